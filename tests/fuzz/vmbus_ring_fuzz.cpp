// libFuzzer target: the VMBus ring buffers under a guest that writes
// anything into them. The input fills a ring's header fields (write and
// read index, interrupt mask, pending_send_sz, feature bits) and its data
// pages, each page its own heap allocation of exactly 4 KiB so ASan sees a
// read or write one byte past any page. The host then drains the ring as a
// consumer (packets into a bounded buffer) and fills it as a producer,
// while the "guest" rewrites the indices between steps from the rest of
// the input. The reader and writer must never touch memory outside the
// pages, never hand out a packet longer than the buffer, and keep their
// own indices inside the data area and 8-byte aligned.
#include "protocol/ring.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

using namespace enlight::vmbus;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

struct Input {
  const uint8_t* data;
  size_t size;
  size_t at = 0;
  uint32_t u32() {
    uint32_t v = 0;
    for (int i = 0; i < 4 && at < size; ++i) v |= uint32_t{data[at++]} << (8 * i);
    return v;
  }
  uint8_t u8() { return at < size ? data[at++] : 0; }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  const uint32_t data_pages = 1 + in.u8() % 4;
  // Page-aligned like guest pages (RingView insists), each its own
  // allocation with ASan's red zones around it.
  struct Free {
    void operator()(uint8_t* p) const { std::free(p); }
  };
  std::vector<std::unique_ptr<uint8_t, Free>> storage;
  std::vector<uint8_t*> pages;
  for (uint32_t i = 0; i <= data_pages; ++i) {
    storage.emplace_back(static_cast<uint8_t*>(std::aligned_alloc(kRingPageSize, kRingPageSize)));
    std::memset(storage.back().get(), 0, kRingPageSize);
    pages.push_back(storage.back().get());
  }
  // The header's fields, then the data pages' bytes from the input (the
  // rest stays zero).
  RingView probe(pages);
  for (uint32_t off : {VMBUS_RING_WRITE_INDEX_OFFSET, VMBUS_RING_READ_INDEX_OFFSET, VMBUS_RING_INTERRUPT_MASK_OFFSET,
                       VMBUS_RING_PENDING_SEND_SZ_OFFSET, VMBUS_RING_FEATURE_BITS_OFFSET})
    probe.field(off).store(in.u32());
  // Indices near the real ones are more interesting than random ones:
  // keep the raw values sometimes, fold them into the data area others.
  if (in.u8() & 1) {
    probe.field(VMBUS_RING_WRITE_INDEX_OFFSET).store(probe.field(VMBUS_RING_WRITE_INDEX_OFFSET).load() % probe.data_size() & ~7u);
    probe.field(VMBUS_RING_READ_INDEX_OFFSET).store(probe.field(VMBUS_RING_READ_INDEX_OFFSET).load() % probe.data_size() & ~7u);
  }
  const uint32_t fill = static_cast<uint32_t>(std::min<size_t>(in.size - in.at, probe.data_size()));
  check(probe.write(0, in.data + in.at, fill));
  in.at += fill / 2;  // the other half of the bytes also drive the steps below

  std::vector<uint8_t> buffer(64 + (in.u8() * 64));
  RingStatus status = RingStatus::Ok;
  if (auto reader = RingReader::open(RingView(pages), &status)) {
    for (int step = 0; step < 64; ++step) {
      PacketInfo info;
      const RingStatus s = reader->next(buffer, info);
      if (s == RingStatus::Ok) {
        check(info.length >= VMBUS_PACKET_DESCRIPTOR_SIZE && info.length <= buffer.size());
        check(info.data_offset <= info.length);
        reader->consume();
      } else if (s == RingStatus::Empty || in.u8() % 4 == 0) {
        reader->begin_drain();
        (void)reader->end_drain();
      }
      check(reader->read_index() < reader->view().data_size() && reader->read_index() % 8 == 0);
      // The guest moves its write index (anything) now and then.
      if (in.u8() % 3 == 0) reader->view().field(VMBUS_RING_WRITE_INDEX_OFFSET).store(in.u32());
      if (in.at >= in.size) break;
    }
  } else {
    check(status != RingStatus::Ok);
  }

  if (auto writer = RingWriter::open(RingView(pages), &status)) {
    std::vector<uint8_t> payload(in.u8() * 40);
    for (int step = 0; step < 32; ++step) {
      const uint32_t n = static_cast<uint32_t>(payload.size()) ? in.u8() * 40 % (payload.size() + 1) : 0;
      const WriteResult r = writer->write(VM_PKT_DATA_INBAND, 0, step, std::span<const uint8_t>(payload.data(), n));
      (void)r;
      check(writer->write_index() < writer->view().data_size() && writer->write_index() % 8 == 0);
      // The guest consumes (or lies about consuming) now and then.
      if (in.u8() % 2 == 0) writer->view().field(VMBUS_RING_READ_INDEX_OFFSET).store(in.u32());
      if (in.at >= in.size) break;
    }
  }
  return 0;
}
