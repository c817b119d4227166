// Content-addressed store of sealed blobs (docs/crypto.md, "Blob store").
//
// A blob's name is the SHA-256 of its (sealed) bytes. On disk, blob h lives at
// <root>/blobs/<h[0:2]>/<h hex>, written through <root>/tmp with write, fsync,
// rename and a directory fsync, so a crash leaves either no blob or the whole
// blob. Reads re-hash the bytes and throw DecodeError when they do not match
// the name. Only sealed items (tagger envelope header) are accepted, so
// plaintext can not be stored by mistake. All methods are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tagger/bytes.h"

namespace tagger::store {

class BlobStore {
 public:
  // Opens (creating if needed) a store in the folder `root`.
  static BlobStore open(const std::string& root);
  // A store held in memory only (tests, notebooks, Network.memory()).
  static BlobStore memory();

  // Stores `sealed` and returns its SHA-256. Idempotent. Throws
  // InvalidArgument when the bytes are not a sealed envelope.
  Hash32 put(ByteView sealed);
  // Streams a sealed file into the store (hashing while copying).
  Hash32 put_file(const std::string& sealed_path);
  // The bytes, re-checked against the name; nullopt when absent; DecodeError when corrupt.
  std::optional<Bytes> get(const Hash32& hash) const;
  bool contains(const Hash32& hash) const;
  bool remove(const Hash32& hash);  // false when absent
  std::vector<Hash32> list() const;  // sorted
  std::size_t size() const;
  bool in_memory() const;
  const std::string& root() const;   // empty in memory
  std::string path_of(const Hash32& hash) const;  // on disk only (InvalidArgument in memory)

 private:
  struct Impl;
  explicit BlobStore(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace tagger::store
