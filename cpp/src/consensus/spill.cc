// DsSpill (consensus_shard.h): a streamed Dawid-Skene fit's answers, kept
// between passes in a temporary file in the layout the E-step reads, so that
// each EM iteration costs a pread() of 4 bytes per answer and 4 per task plus
// the E-step itself - not a decode of the source (Parquet, Ray Data) and a
// re-coding of its ids.
//
// File: one record per appended chunk, [uint32 task sizes][uint32 codes],
// codes = worker * n_labels + label. An in-memory index holds each record's
// offset and counts.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "tagger/consensus_shard.h"
#include "tagger/errors.h"

namespace tagger::consensus {
namespace {

struct Record {
  std::int32_t t0 = 0, n_tasks = 0;
  std::uint64_t n = 0, offset = 0;
};

void write_all(int fd, const void* p, std::size_t bytes) {
  const char* c = static_cast<const char*>(p);
  while (bytes) {
    const ssize_t k = ::write(fd, c, bytes);
    if (k < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("consensus spill: write failed: ") + std::strerror(errno));
    }
    c += k;
    bytes -= static_cast<std::size_t>(k);
  }
}

void read_all(int fd, void* p, std::size_t bytes, std::uint64_t offset) {
  char* c = static_cast<char*>(p);
  while (bytes) {
    const ssize_t k = ::pread(fd, c, bytes, static_cast<off_t>(offset));
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) throw Error(std::string("consensus spill: read failed: ") + (k < 0 ? std::strerror(errno) : "short file"));
    c += k;
    offset += static_cast<std::uint64_t>(k);
    bytes -= static_cast<std::size_t>(k);
  }
}

}  // namespace

struct DsSpill::Impl {
  int fd = -1;
  std::int32_t n_workers = 0, n_labels = 0, n_tasks = 0;
  std::uint64_t n = 0, bytes = 0;
  std::vector<Record> records;
  std::vector<std::uint32_t> sizes;  // one record's task sizes, reused
  DawidSkeneShard shard;

  Impl(std::int32_t w, std::int32_t l, unsigned threads) : n_workers(w), n_labels(l), shard(w, l, threads) {}
  ~Impl() {
    if (fd >= 0) ::close(fd);
  }

  void load(const Record& r) {
    sizes.resize(static_cast<std::size_t>(r.n_tasks));
    read_all(fd, sizes.data(), sizes.size() * 4, r.offset);
    shard.load(r.n_tasks, r.n, [&](std::int64_t* off, std::uint32_t* code) {
      off[0] = 0;
      for (std::size_t t = 0; t < sizes.size(); ++t) off[t + 1] = off[t] + sizes[t];
      read_all(fd, code, r.n * 4, r.offset + sizes.size() * 4);
    });
  }

  // One pass over every record; probas/labels: the whole result (posteriors).
  ShardStats pass(const DsParams* p, bool posteriors, double* probas, std::int32_t* labels) {
    shard.begin(p, posteriors);
    std::vector<double> all_ll, ll;
    const bool em = p && !posteriors;
    for (const Record& r : records) {
      load(r);
      const std::size_t K = static_cast<std::size_t>(n_labels), t0 = static_cast<std::size_t>(r.t0);
      shard.run(em ? &ll : nullptr, probas ? probas + t0 * K : nullptr, labels ? labels + t0 : nullptr);
      if (em) all_ll.insert(all_ll.end(), ll.begin(), ll.end());
    }
    ShardStats st = shard.end();
    if (em) st.block_ll = std::move(all_ll);
    return st;
  }
};

DsSpill::DsSpill(const std::string& dir, std::int32_t n_workers, std::int32_t n_labels, unsigned threads)
    : impl_(std::make_unique<Impl>(n_workers, n_labels, threads)) {
  std::string path = dir + "/tagger-spill-XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  // O_CLOEXEC: a child a thread starts during the fit (os.system, subprocess) would inherit the
  // descriptor and keep the deleted file's disk space until it exits.
  const int fd = ::mkostemp(buf.data(), O_CLOEXEC);
  if (fd < 0) throw InvalidArgument("consensus spill: cannot create a temporary file in " + dir + ": " + std::strerror(errno));
  ::unlink(buf.data());  // the file lives as long as the descriptor: no leftover on any exit
  impl_->fd = fd;
}

DsSpill::~DsSpill() = default;

void DsSpill::append(const AnswersView& a) {
  Impl& m = *impl_;
  if (a.n_tasks < 0 || static_cast<std::int64_t>(m.n_tasks) + a.n_tasks > std::numeric_limits<std::int32_t>::max())
    throw InvalidArgument("consensus spill: too many tasks (2^31 - 1 at most)");
  if (m.n_tasks % kShardTaskAlign != 0)
    throw InvalidArgument("consensus spill: only the last chunk may end off a block of TASK_ALIGN tasks");
  std::vector<std::uint32_t> size(static_cast<std::size_t>(a.n_tasks), 0);
  std::vector<std::uint32_t> code(a.n);
  const std::uint32_t L = static_cast<std::uint32_t>(m.n_labels);
  std::int32_t prev = 0;
  for (std::size_t i = 0; i < a.n; ++i) {
    const std::int32_t t = a.task[i], w = a.worker[i], l = a.label[i];
    if (t < prev || t >= a.n_tasks)
      throw InvalidArgument("consensus spill: chunk task codes must be non-decreasing and in [0, n_tasks), answer " +
                            std::to_string(i) + " has " + std::to_string(t));
    if (w < 0 || w >= m.n_workers) throw InvalidArgument("consensus spill: worker code " + std::to_string(w) + " out of range");
    if (l < 0 || l >= m.n_labels) throw InvalidArgument("consensus spill: label code " + std::to_string(l) + " out of range");
    prev = t;
    ++size[static_cast<std::size_t>(t)];
    code[i] = static_cast<std::uint32_t>(w) * L + static_cast<std::uint32_t>(l);
  }
  Record r{m.n_tasks, a.n_tasks, a.n, m.bytes};
  write_all(m.fd, size.data(), size.size() * 4);
  write_all(m.fd, code.data(), code.size() * 4);
  m.bytes += (size.size() + code.size()) * 4;
  m.records.push_back(r);
  m.n_tasks += a.n_tasks;
  m.n += a.n;
}

ShardStats DsSpill::start() { return impl_->pass(nullptr, false, nullptr, nullptr); }
ShardStats DsSpill::e_step(const DsParams& p) { return impl_->pass(&p, false, nullptr, nullptr); }
void DsSpill::posteriors(const DsParams* p, double* probas, std::int32_t* labels) {
  impl_->pass(p, true, probas, labels);
}
std::int32_t DsSpill::n_tasks() const { return impl_->n_tasks; }
std::size_t DsSpill::n_answers() const { return impl_->n; }
std::uint64_t DsSpill::bytes() const { return impl_->bytes; }
std::size_t DsSpill::n_chunks() const { return impl_->records.size(); }

}  // namespace tagger::consensus
