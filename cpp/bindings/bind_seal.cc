// tagger._core.seal: the chaotic layer and the sealed envelope.
#include "common.h"

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "tagger/crypto.h"

namespace tagger::bindings {
namespace c = tagger::crypto;

static std::vector<c::PublicKey> to_keys(const py::sequence& recipients) {
  std::vector<c::PublicKey> keys;
  keys.reserve(py::len(recipients));
  for (const py::handle& r : recipients) {
    BytesArg b(py::reinterpret_borrow<py::object>(r), "recipient public key");
    if (b.size() != c::kPublicKeyBytes)
      throw InvalidKey("recipient X25519 public key must be 32 bytes, got " + std::to_string(b.size()));
    c::PublicKey k;
    std::copy(b.view().begin(), b.view().end(), k.begin());
    keys.push_back(k);
  }
  return keys;
}

// A new bytes object of n bytes for C++ to fill (the result, so no copy).
// Large ones are fresh pages from mmap, and faulting 4 KiB pages in one by one
// costs as much as the cipher (25 ms per 64 MiB here, 5 ms with 2 MiB pages):
// ask for transparent huge pages (a hint; no effect where THP is off).
static py::bytes new_bytes(std::size_t n, std::uint8_t*& buf) {
  py::bytes out(nullptr, n);
  buf = reinterpret_cast<std::uint8_t*>(PyBytes_AS_STRING(out.ptr()));
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr std::uintptr_t kHuge = std::uintptr_t{2} << 20;
  if (n >= 4 * kHuge) {
    std::uintptr_t b = (reinterpret_cast<std::uintptr_t>(buf) + kHuge - 1) & ~(kHuge - 1);
    std::uintptr_t e = (reinterpret_cast<std::uintptr_t>(buf) + n) & ~(kHuge - 1);
    if (e > b) ::madvise(reinterpret_cast<void*>(b), e - b, MADV_HUGEPAGE);
  }
#endif
  return out;
}

// A caller's writable contiguous buffer (bytearray, numpy array, memoryview, mmap)
// of at least `need` bytes that does not overlap `src` (unless `same_ok` and it
// starts where src does): the *_into functions write there, with no allocation.
class OutBuffer {
 public:
  OutBuffer(const py::object& obj, std::size_t need, ByteView src, bool same_ok) {
    if (PyObject_GetBuffer(obj.ptr(), &view_, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS) != 0) {
      PyErr_Clear();
      throw InvalidArgument("out must be a writable contiguous buffer (bytearray, numpy array, memoryview), got " +
                            std::string(py::str(py::type::of(obj).attr("__name__"))));
    }
    held_ = true;
    if (static_cast<std::size_t>(view_.len) < need)
      throw InvalidArgument("out holds " + std::to_string(view_.len) + " bytes, needs " + std::to_string(need));
    auto* p = static_cast<const std::uint8_t*>(view_.buf);
    bool overlap = p < src.data() + src.size() && src.data() < p + need;
    if (overlap && !(same_ok && p == src.data()))
      throw InvalidArgument("out overlaps the input buffer");
  }
  ~OutBuffer() {
    if (held_) PyBuffer_Release(&view_);
  }
  OutBuffer(const OutBuffer&) = delete;
  OutBuffer& operator=(const OutBuffer&) = delete;
  std::uint8_t* data() { return static_cast<std::uint8_t*>(view_.buf); }

 private:
  Py_buffer view_{};
  bool held_ = false;
};

TAGGER_BIND_MODULE(seal) {
  m.attr("CHAOTIC_KEY_BYTES") = c::chaotic::kKeyBytes;
  m.attr("CHAOTIC_NONCE_BYTES") = c::chaotic::kNonceBytes;
  m.attr("CHUNK_BYTES") = c::kSealChunkBytes;
  m.attr("DATA_KEY_BYTES") = c::kDataKeyBytes;
  m.attr("MAX_RECIPIENTS") = c::kMaxRecipients;

  py::class_<c::ChaoticCipher>(m, "ChaoticCipher")
      .def(py::init([](const py::object& key, const py::object& nonce) {
        return c::ChaoticCipher(BytesArg(key, "key").view(), BytesArg(nonce, "nonce").view());
      }), py::arg("key"), py::arg("nonce"))
      .def("encrypt", [](const c::ChaoticCipher& self, const py::object& data, unsigned threads) {
        BytesArg d(data, "data");
        std::uint8_t* buf;
        py::bytes out = new_bytes(d.size(), buf);  // written in place: no second buffer, no copy
        NoGil release;
        self.encrypt_into(d.view(), buf, threads);
        return out;
      }, py::arg("data"), py::arg("threads") = 1)
      .def("decrypt", [](const c::ChaoticCipher& self, const py::object& data, unsigned threads) {
        BytesArg d(data, "data");
        std::uint8_t* buf;
        py::bytes out = new_bytes(d.size(), buf);
        NoGil release;
        self.decrypt_into(d.view(), buf, threads);
        return out;
      }, py::arg("data"), py::arg("threads") = 1)
      .def("encrypt_into", [](const c::ChaoticCipher& self, const py::object& data, const py::object& out,
                              unsigned threads) {
        BytesArg d(data, "data");
        OutBuffer o(out, d.size(), d.view(), true);
        NoGil release;
        self.encrypt_into(d.view(), o.data(), threads);
        return d.size();
      }, py::arg("data"), py::arg("out"), py::arg("threads") = 1)
      .def("decrypt_into", [](const c::ChaoticCipher& self, const py::object& data, const py::object& out,
                              unsigned threads) {
        BytesArg d(data, "data");
        OutBuffer o(out, d.size(), d.view(), true);
        NoGil release;
        self.decrypt_into(d.view(), o.data(), threads);
        return d.size();
      }, py::arg("data"), py::arg("out"), py::arg("threads") = 1)
      .def("encrypt_chunk", [](const c::ChaoticCipher& self, std::uint64_t index, const py::object& data) {
        BytesArg d(data, "data");
        std::uint8_t* buf;
        py::bytes out = new_bytes(d.size(), buf);
        self.encrypt_chunk(index, d.view().data(), d.size(), buf);
        return out;
      }, py::arg("index"), py::arg("data"))
      .def("decrypt_chunk", [](const c::ChaoticCipher& self, std::uint64_t index, const py::object& data) {
        BytesArg d(data, "data");
        std::uint8_t* buf;
        py::bytes out = new_bytes(d.size(), buf);
        self.decrypt_chunk(index, d.view().data(), d.size(), buf);
        return out;
      }, py::arg("index"), py::arg("data"))
      .def("keystream", [](const c::ChaoticCipher& self, std::size_t words, std::uint64_t chunk) {
        py::array_t<std::uint64_t> out(static_cast<py::ssize_t>(words));
        std::uint64_t* buf = out.mutable_data();
        {
          NoGil release;
          self.keystream_into(chunk, words, buf);
        }
        return out;
      }, py::arg("words"), py::arg("chunk") = 0);

  m.def("sealed_size", &c::sealed_size, py::arg("plaintext_bytes"), py::arg("recipients"));
  m.def("seal", [](const py::object& data, const py::sequence& recipients, unsigned threads) {
    BytesArg d(data, "data");
    auto keys = to_keys(recipients);
    std::uint8_t* buf;
    py::bytes out = new_bytes(c::sealed_size(d.size(), keys.size()), buf);
    NoGil release;
    c::seal_into(d.view(), keys, buf, threads);
    return out;
  }, py::arg("data"), py::arg("recipients"), py::arg("threads") = 0);
  m.def("open_sealed", [](const py::object& sealed, const c::PrivateKey& key, unsigned threads) {
    BytesArg s(sealed, "sealed");
    std::uint8_t* buf;
    py::bytes out = new_bytes(c::opened_size(s.view()), buf);
    NoGil release;
    c::open_sealed_into(s.view(), key, buf, threads);
    return out;
  }, py::arg("sealed"), py::arg("private_key"), py::arg("threads") = 0);
  m.def("seal_into", [](const py::object& data, const py::sequence& recipients, const py::object& out,
                        unsigned threads) {
    BytesArg d(data, "data");
    auto keys = to_keys(recipients);
    std::size_t n = c::sealed_size(d.size(), keys.size());
    OutBuffer o(out, n, d.view(), false);
    NoGil release;
    c::seal_into(d.view(), keys, o.data(), threads);
    return n;
  }, py::arg("data"), py::arg("recipients"), py::arg("out"), py::arg("threads") = 0);
  m.def("open_sealed_into", [](const py::object& sealed, const c::PrivateKey& key, const py::object& out,
                               unsigned threads) {
    BytesArg s(sealed, "sealed");
    std::size_t n = c::opened_size(s.view());
    OutBuffer o(out, n, s.view(), false);
    NoGil release;
    c::open_sealed_into(s.view(), key, o.data(), threads);
    return n;
  }, py::arg("sealed"), py::arg("private_key"), py::arg("out"), py::arg("threads") = 0);
  m.def("rewrap", [](const py::object& sealed, const c::PrivateKey& owner, const py::sequence& recipients,
                     bool keep_existing, bool header_only) {
    BytesArg s(sealed, "sealed");
    auto keys = to_keys(recipients);
    Bytes out = header_only ? c::rewrap_header(s.view(), owner, keys, keep_existing)
                            : c::rewrap(s.view(), owner, keys, keep_existing);
    return to_py(out);
  }, py::arg("sealed"), py::arg("owner"), py::arg("recipients"), py::arg("keep_existing") = true,
     py::arg("header_only") = false);
  m.def("parse_header", [](const py::object& sealed) {
    BytesArg s(sealed, "sealed");
    c::SealedHeader h = c::parse_sealed_header(s.view());
    py::list eph;
    for (const auto& st : h.stanzas) eph.append(to_py(ByteView(st.data(), 32)));
    py::dict d;
    d["size"] = h.size;
    d["nonce"] = to_py(h.nonce);
    d["ephemeral_keys"] = eph;
    return d;
  }, py::arg("sealed"));

  py::class_<c::SealWriter>(m, "SealWriter")
      .def(py::init([](const py::sequence& recipients) { return c::SealWriter(to_keys(recipients)); }),
           py::arg("recipients"))
      .def("header", [](const c::SealWriter& w) { return to_py(w.header()); })
      .def_property_readonly("finished", &c::SealWriter::finished)
      .def("seal_chunk", [](c::SealWriter& w, const py::object& chunk, bool last) {
        BytesArg d(chunk, "chunk");
        std::uint8_t* buf;
        py::bytes out = new_bytes(d.size() + c::kAeadTagBytes, buf);
        NoGil release;
        w.seal_chunk(d.view(), last, buf);
        return out;
      }, py::arg("chunk"), py::arg("last"));
  py::class_<c::SealReader>(m, "SealReader")
      .def(py::init([](const py::object& header, const c::PrivateKey& key) {
        return c::SealReader(BytesArg(header, "header").view(), key);
      }), py::arg("header"), py::arg("private_key"))
      .def_property_readonly("header_size", &c::SealReader::header_size)
      .def("verify_chunk", [](const c::SealReader& r, std::uint64_t index, const py::object& chunk, bool last) {
        BytesArg d(chunk, "chunk");
        if (d.size() < c::kAeadTagBytes) throw DecryptionFailed("sealed chunk shorter than its tag");
        Bytes scratch(d.size() - c::kAeadTagBytes);
        NoGil release;
        r.verify_chunk(index, d.view(), last, scratch.data());
      }, py::arg("index"), py::arg("chunk"), py::arg("last"))
      .def("open_chunk", [](const c::SealReader& r, std::uint64_t index, const py::object& chunk, bool last) {
        BytesArg d(chunk, "chunk");
        if (d.size() < c::kAeadTagBytes) throw DecryptionFailed("sealed chunk shorter than its tag");
        std::uint8_t* buf;
        py::bytes out = new_bytes(d.size() - c::kAeadTagBytes, buf);
        NoGil release;
        r.open_chunk(index, d.view(), last, buf);
        return out;
      }, py::arg("index"), py::arg("chunk"), py::arg("last"));

  m.def("seal_file", [](const std::string& src, const std::string& dst, const py::sequence& recipients) {
    auto keys = to_keys(recipients);
    NoGil release;
    c::seal_file(src, dst, keys);
  }, py::arg("src"), py::arg("dst"), py::arg("recipients"));
  m.def("open_sealed_file", [](const std::string& src, const std::string& dst, const c::PrivateKey& key) {
    NoGil release;
    c::open_sealed_file(src, dst, key);
  }, py::arg("src"), py::arg("dst"), py::arg("private_key"));
}

}  // namespace tagger::bindings
