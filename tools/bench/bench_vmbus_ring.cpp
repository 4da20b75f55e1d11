// VMBus ring throughput (plugins/vmbus/protocol/ring.*): what the host pays
// to put a packet into the host-to-guest ring and to take one out of the
// guest-to-host ring, against a plain memcpy of the same bytes. Method and
// results: docs/benchmarks.md, "VMBus ring buffers".
//
// Each ring is a 256 KiB data area plus its header page, as a channel's ring
// would be (netvsc's default is 512 KiB per direction). The other end of
// the ring is simulated as cheaply as possible inside the timed loop, so the
// numbers are the host side's cost:
//   - BM_RingWrite: RingWriter::write() of one packet (descriptor, payload,
//     padding, trailer, write_index publish, signal decision), then the
//     "guest" consumes everything by storing read_index = write_index.
//   - BM_RingRead: the "guest" stamps a 16-byte descriptor at its write
//     position and publishes write_index (the payload bytes are whatever the
//     ring held); RingReader::next() validates and copies descriptor +
//     payload out, advance() + commit() publish read_index and make the
//     pending_send_sz decision (feat_pending_send_sz set, as Linux does).
//   - BM_RingReadBatch: the same with 8 packets per write_index publish and
//     per commit(); bytes are all 8 payloads.
//   - BM_RingRoundTrip: RingWriter and RingReader on the same ring (both
//     copies, both index updates, both signal decisions); informative.
//   - BM_RingWriteBatch: 8 packets per write_batch(), one publish and one
//     signal decision; bytes are all 8 payloads.
//   - BM_Memcpy: memcpy of the payload to the very addresses the ring's
//     payloads go to (in a plain buffer), so alignment and cache footprint
//     match and only the ring's own work differs.
// "contiguous" rings are one host block (guest RAM is one mapping in
// enlight, and Linux allocates a ring as one block): the copies are single
// memcpys. "scattered" rings have every 4 KiB page apart from its
// neighbours, in reverse order: every copy splits at each page.
#include "protocol/ring.hpp"

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <vector>

namespace {

using enlight::vmbus::PacketInfo;
using enlight::vmbus::RingReader;
using enlight::vmbus::RingStatus;
using enlight::vmbus::RingView;
using enlight::vmbus::RingWriter;

constexpr uint32_t kPage = enlight::vmbus::kRingPageSize;
constexpr uint32_t kDataPages = 64;  // 256 KiB
constexpr uint32_t kDataBytes = kDataPages * kPage;

enum class Layout { Contiguous, Scattered };

struct FreeDeleter {
  void operator()(uint8_t* p) const { std::free(p); }
};

// Header + 64 data pages, zeroed.
class BenchRing {
 public:
  explicit BenchRing(Layout layout) {
    const size_t slots = layout == Layout::Contiguous ? kDataPages + 1 : 2 * (kDataPages + 1);
    block_.reset(static_cast<uint8_t*>(std::aligned_alloc(kPage, slots * kPage)));
    if (!block_) throw std::bad_alloc();
    std::memset(block_.get(), 0, slots * kPage);
    for (uint32_t i = 0; i <= kDataPages; ++i) {
      // Scattered: a one-page gap between pages, data pages in reverse.
      const size_t slot = layout == Layout::Contiguous ? i : (i == 0 ? 0 : 2 * (kDataPages + 1 - i));
      pages_.push_back(block_.get() + slot * kPage);
    }
  }
  RingView view() const { return RingView(pages_); }
  std::atomic_ref<uint32_t> field(uint32_t offset) const {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(pages_[0] + offset));
  }

 private:
  std::unique_ptr<uint8_t, FreeDeleter> block_;
  std::vector<uint8_t*> pages_;
};

std::vector<uint8_t> payload(size_t n) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(i * 131 + 7);
  return v;
}

// The destination addresses are exactly those of the ring's payloads
// (packet start + 16, packets advancing round 256 KiB), with an overflow
// area instead of the wrap, so alignment and cache footprint match the
// ring's and only the ring's own work differs.
void BM_Memcpy(benchmark::State& state) {
  const auto size = static_cast<uint32_t>(state.range(0));
  const auto src = payload(size);
  const size_t bytes = kDataBytes + (64 << 10) + kPage;
  std::unique_ptr<uint8_t, FreeDeleter> dst(static_cast<uint8_t*>(std::aligned_alloc(kPage, bytes)));
  std::memset(dst.get(), 0, bytes);
  const uint32_t step = RingWriter::packet_bytes(size);
  uint32_t start = 0;
  for (auto _ : state) {
    std::memcpy(dst.get() + start + VMBUS_PACKET_DESCRIPTOR_SIZE, src.data(), size);
    benchmark::ClobberMemory();
    start = (start + step) % kDataBytes;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * size);
}

void BM_RingWrite(benchmark::State& state, Layout layout) {
  const auto size = static_cast<uint32_t>(state.range(0));
  const auto src = payload(size);
  BenchRing ring(layout);
  auto writer = RingWriter::open(ring.view());
  auto read_index = ring.field(VMBUS_RING_READ_INDEX_OFFSET);
  auto write_index = ring.field(VMBUS_RING_WRITE_INDEX_OFFSET);
  uint64_t id = 0;
  for (auto _ : state) {
    const auto r = writer->write(VM_PKT_DATA_INBAND, 0, id++, src);
    if (r.status != RingStatus::Ok) {
      state.SkipWithError("write failed");
      break;
    }
    benchmark::DoNotOptimize(r.signal_guest);
    read_index.store(write_index.load(std::memory_order_relaxed), std::memory_order_relaxed);  // the guest
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * size);
}

void BM_RingRead(benchmark::State& state, Layout layout) {
  const auto size = static_cast<uint32_t>(state.range(0));
  BenchRing ring(layout);
  const RingView guest = ring.view();
  // Linux sets feat_pending_send_sz on the rings it produces into
  // (hv_ringbuffer_init), so every commit pays the flow-control check.
  ring.field(VMBUS_RING_FEATURE_BITS_OFFSET).store(VMBUS_RING_BUFFER_FEAT_PENDING_SZ);
  auto reader = RingReader::open(ring.view());
  auto write_index = ring.field(VMBUS_RING_WRITE_INDEX_OFFSET);
  std::vector<uint8_t> buf(size + 16);
  const uint32_t total = RingWriter::packet_bytes(size);
  uint8_t desc[16] = {};
  const uint16_t type = VM_PKT_DATA_INBAND, offset8 = 2, len8 = static_cast<uint16_t>((total - 8) / 8);
  std::memcpy(desc + 0, &type, 2);
  std::memcpy(desc + 2, &offset8, 2);
  std::memcpy(desc + 4, &len8, 2);
  const int per_commit = static_cast<int>(state.range(1));
  uint32_t w = 0;
  for (auto _ : state) {
    for (int i = 0; i < per_commit; ++i) {  // the guest
      guest.write(w, desc, sizeof desc);
      w = guest.advance(w, total);
    }
    write_index.store(w, std::memory_order_release);
    for (int i = 0; i < per_commit; ++i) {
      PacketInfo info;
      if (reader->next(buf, info) != RingStatus::Ok) {
        state.SkipWithError("read failed");
        break;
      }
      benchmark::DoNotOptimize(buf.data());
      reader->advance();
    }
    benchmark::DoNotOptimize(reader->commit());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * size * per_commit);
}

void BM_RingRoundTrip(benchmark::State& state, Layout layout) {
  const auto size = static_cast<uint32_t>(state.range(0));
  const auto src = payload(size);
  BenchRing ring(layout);
  auto writer = RingWriter::open(ring.view());
  auto reader = RingReader::open(ring.view());
  std::vector<uint8_t> buf(size + 16);
  uint64_t id = 0;
  for (auto _ : state) {
    const auto r = writer->write(VM_PKT_DATA_INBAND, 0, id++, src);
    PacketInfo info;
    if (r.status != RingStatus::Ok || reader->next(buf, info) != RingStatus::Ok) {
      state.SkipWithError("round trip failed");
      break;
    }
    benchmark::DoNotOptimize(buf.data());
    benchmark::DoNotOptimize(reader->consume());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * size);
}

constexpr int kBatch = 8;

void BM_RingWriteBatch(benchmark::State& state, Layout layout) {
  const auto size = static_cast<uint32_t>(state.range(0));
  const auto src = payload(size);
  BenchRing ring(layout);
  auto writer = RingWriter::open(ring.view());
  auto read_index = ring.field(VMBUS_RING_READ_INDEX_OFFSET);
  auto write_index = ring.field(VMBUS_RING_WRITE_INDEX_OFFSET);
  std::vector<enlight::vmbus::OutgoingPacket> batch(kBatch);
  for (auto& p : batch) p.payload = src;
  for (auto _ : state) {
    const auto r = writer->write_batch(batch);
    if (r.written != kBatch) {
      state.SkipWithError("batch failed");
      break;
    }
    benchmark::DoNotOptimize(r.signal_guest);
    read_index.store(write_index.load(std::memory_order_relaxed), std::memory_order_relaxed);  // the guest
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * size * kBatch);
}

void BM_RingReadBatch(benchmark::State& state, Layout layout) { BM_RingRead(state, layout); }

void sizes(benchmark::internal::Benchmark* b) { b->RangeMultiplier(4)->Range(64, 64 << 10); }
void batch_sizes(benchmark::internal::Benchmark* b) { b->RangeMultiplier(4)->Range(64, 16 << 10); }
// Packet size x packets per commit: 1, and 8 for the batch variant.
void read_sizes(benchmark::internal::Benchmark* b) { b->ArgNames({"", "per_commit"})->RangeMultiplier(4)->Ranges({{64, 64 << 10}, {1, 1}}); }
void read_batch_sizes(benchmark::internal::Benchmark* b) {
  b->ArgNames({"", "per_commit"})->RangeMultiplier(4)->Ranges({{64, 16 << 10}, {kBatch, kBatch}});
}

BENCHMARK(BM_Memcpy)->Apply(sizes);
BENCHMARK_CAPTURE(BM_RingWrite, contiguous, Layout::Contiguous)->Apply(sizes);
BENCHMARK_CAPTURE(BM_RingRead, contiguous, Layout::Contiguous)->Apply(read_sizes);
BENCHMARK_CAPTURE(BM_RingRoundTrip, contiguous, Layout::Contiguous)->Apply(sizes);
BENCHMARK_CAPTURE(BM_RingWriteBatch, contiguous, Layout::Contiguous)->Apply(batch_sizes);
BENCHMARK_CAPTURE(BM_RingReadBatch, contiguous, Layout::Contiguous)->Apply(read_batch_sizes);
BENCHMARK_CAPTURE(BM_RingWrite, scattered, Layout::Scattered)->Apply(sizes);
BENCHMARK_CAPTURE(BM_RingRead, scattered, Layout::Scattered)->Apply(read_sizes);

}  // namespace
