#include <pybind11/operators.h>

#include <optional>

#include "common.h"
#include "tagger/crypto.h"

namespace tagger::bindings {
namespace c = tagger::crypto;

// Heavy enough to release the GIL for (bulk hashing and AEAD).
static constexpr std::size_t kReleaseGilBytes = 1 << 16;

static py::bytes aead_call(bool encrypt, const std::string& alg, const py::object& key,
                           const py::object& nonce, const py::object& data, const py::object& aad) {
  c::Aead a = c::aead_from_name(alg);
  BytesArg k(key, "key"), n(nonce, "nonce"), d(data, "data"), ad(aad, "aad");
  // A too-short input gets a zero-length buffer; the core then reports the
  // first fault in a fixed order (key, nonce, length).
  std::size_t out_len = encrypt ? d.size() + c::kAeadTagBytes
                                : (d.size() >= c::kAeadTagBytes ? d.size() - c::kAeadTagBytes : 0);
  // Write straight into the bytes object Python will own.
  py::bytes out(nullptr, out_len);
  auto* buf = reinterpret_cast<std::uint8_t*>(PyBytes_AS_STRING(out.ptr()));
  {
    std::optional<NoGil> release;
    if (d.size() >= kReleaseGilBytes) release.emplace();
    if (encrypt) c::aead_encrypt_into(a, k.view(), n.view(), d.view(), ad.view(), buf);
    else c::aead_decrypt_into(a, k.view(), n.view(), d.view(), ad.view(), buf);
  }
  return out;
}

TAGGER_BIND_MODULE(crypto) {
  m.attr("HASH_BYTES") = c::kHashBytes;
  m.attr("SIGNATURE_BYTES") = c::kSignatureBytes;
  m.attr("PUBLIC_KEY_BYTES") = c::kPublicKeyBytes;
  m.attr("AEAD_KEY_BYTES") = c::kAeadKeyBytes;
  m.attr("AEAD_NONCE_BYTES") = c::kAeadNonceBytes;
  m.attr("AEAD_TAG_BYTES") = c::kAeadTagBytes;

  m.def("random_bytes", [](std::size_t n) { return to_py(c::random_bytes(n)); }, py::arg("n"));
  m.def("sha256", [](const py::object& data) {
    BytesArg d(data, "data");
    std::optional<NoGil> release;
    if (d.size() >= kReleaseGilBytes) release.emplace();
    Hash32 h = c::sha256(d.view());
    release.reset();
    return to_py(h);
  }, py::arg("data"));
  py::class_<c::Sha256>(m, "Sha256")
      .def(py::init<>())
      .def("update", [](c::Sha256& s, const py::object& data) {
        BytesArg d(data, "data");
        std::optional<NoGil> release;
        if (d.size() >= kReleaseGilBytes) release.emplace();
        s.update(d.view());
      }, py::arg("data"))
      .def("finish", [](c::Sha256& s) { return to_py(s.finish()); });
  m.def("hmac_sha256", [](const py::object& key, const py::object& data) {
    BytesArg k(key, "key"), d(data, "data");
    return to_py(c::hmac_sha256(k.view(), d.view()));
  }, py::arg("key"), py::arg("data"));
  m.def("hkdf_sha256", [](const py::object& ikm, const py::object& salt, const py::object& info, std::size_t length) {
    BytesArg i(ikm, "ikm"), s(salt, "salt"), f(info, "info");
    auto out = c::hkdf_sha256(i.view(), s.view(), f.view(), length);
    return to_py(ByteView(out.data(), out.size()));
  }, py::arg("ikm"), py::arg("salt"), py::arg("info"), py::arg("length"));

  py::class_<c::VerifyKey>(m, "VerifyKey")
      .def(py::init([](const py::object& raw) { return c::VerifyKey(BytesArg(raw, "verify key").view()); }))
      .def("raw", [](const c::VerifyKey& k) { return to_py(k.raw()); })
      .def("verify", [](const c::VerifyKey& k, const py::object& msg, const py::object& sig) {
        BytesArg mm(msg, "message"), s(sig, "signature");
        k.verify(mm.view(), s.view());
      }, py::arg("message"), py::arg("signature"))
      .def("is_valid", [](const c::VerifyKey& k, const py::object& msg, const py::object& sig) {
        BytesArg mm(msg, "message"), s(sig, "signature");
        return k.is_valid(mm.view(), s.view());
      }, py::arg("message"), py::arg("signature"))
      .def(py::self == py::self);
  py::class_<c::SigningKey>(m, "SigningKey")
      .def_static("generate", &c::SigningKey::generate)
      .def_static("from_seed", [](const py::object& seed) { return c::SigningKey::from_seed(BytesArg(seed, "seed").view()); })
      .def("sign", [](const c::SigningKey& k, const py::object& msg) {
        BytesArg mm(msg, "message");
        return to_py(k.sign(mm.view()));
      }, py::arg("message"))
      .def("verify_key", &c::SigningKey::verify_key)
      .def("seed", [](const c::SigningKey& k) { return to_py(ByteView(k.seed().data(), k.seed().size())); });
  m.def("verify_batch", [](const py::sequence& msgs, const py::sequence& sigs, const py::sequence& keys, unsigned threads) {
    std::vector<BytesArg> holders;
    std::size_t n = py::len(msgs);
    if (py::len(sigs) != n || py::len(keys) != n)
      throw InvalidArgument("verify_batch: messages, signatures and keys must have the same length");
    holders.reserve(3 * n);
    std::vector<ByteView> mv, sv, kv;
    mv.reserve(n); sv.reserve(n); kv.reserve(n);
    for (std::size_t i = 0; i < n; ++i) {
      py::object key = keys[i];
      if (py::hasattr(key, "__bytes__") && !PyObject_CheckBuffer(key.ptr())) key = key.attr("__bytes__")();
      holders.emplace_back(msgs[i], "message"); mv.push_back(holders.back().view());
      holders.emplace_back(sigs[i], "signature"); sv.push_back(holders.back().view());
      holders.emplace_back(key, "verify key"); kv.push_back(holders.back().view());
    }
    std::vector<std::uint8_t> ok;
    {
      NoGil release;
      ok = c::verify_batch(mv, sv, kv, threads);
    }
    py::array_t<bool> out(static_cast<py::ssize_t>(n));
    std::copy(ok.begin(), ok.end(), out.mutable_data());
    return out;
  }, py::arg("messages"), py::arg("signatures"), py::arg("verify_keys"), py::arg("threads") = 0);

  py::class_<c::PrivateKey>(m, "PrivateKey")
      .def_static("generate", &c::PrivateKey::generate)
      .def_static("from_bytes", [](const py::object& raw) { return c::PrivateKey::from_bytes(BytesArg(raw, "private key").view()); })
      .def("public_key", [](const c::PrivateKey& k) { return to_py(k.public_key()); })
      .def("raw", [](const c::PrivateKey& k) { return to_py(ByteView(k.raw().data(), k.raw().size())); })
      .def("exchange", [](const c::PrivateKey& k, const py::object& peer) {
        auto s = k.exchange(BytesArg(peer, "public key").view());
        return to_py(ByteView(s.data(), s.size()));
      }, py::arg("peer_public_key"));

  m.def("aead_encrypt", [](const py::object& key, const py::object& nonce, const py::object& pt, const py::object& aad, const std::string& alg) {
    return aead_call(true, alg, key, nonce, pt, aad);
  }, py::arg("key"), py::arg("nonce"), py::arg("plaintext"), py::arg("aad") = py::bytes(), py::arg("alg") = "aes-256-gcm");
  m.def("aead_decrypt", [](const py::object& key, const py::object& nonce, const py::object& ct, const py::object& aad, const std::string& alg) {
    return aead_call(false, alg, key, nonce, ct, aad);
  }, py::arg("key"), py::arg("nonce"), py::arg("ciphertext"), py::arg("aad") = py::bytes(), py::arg("alg") = "aes-256-gcm");
}

}  // namespace tagger::bindings
