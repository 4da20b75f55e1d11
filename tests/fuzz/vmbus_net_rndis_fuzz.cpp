// libFuzzer target: the RNDIS parsers of plugins/vmbus-net/protocol on raw
// guest bytes: the message stream of a send section, each message's frame
// bounds and control request fields, and the ranges of a GPA_DIRECT packet
// (one or several pages each). Every span they return must lie inside the input.
#include "protocol/packets.hpp"
#include "protocol/rndis.hpp"

#include <cstdlib>

using namespace enlight::vmbus_net;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
bool inside(std::span<const uint8_t> part, const uint8_t* data, size_t size) {
  return part.empty() || (part.data() >= data && part.data() + part.size() <= data + size);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> bytes(data, size);
  RndisStream stream(bytes);
  size_t walked = 0;
  while (const auto m = stream.next()) {
    check(inside(m->bytes, data, size) && m->bytes.size() >= RNDIS_HEADER_SIZE);
    walked += m->bytes.size();
    if (const auto f = rndis_packet_frame(*m)) check(inside(*f, m->bytes.data(), m->bytes.size()));
    if (const auto r = parse_rndis_oid_request(*m)) check(inside(r->info, m->bytes.data(), m->bytes.size()));
    (void)parse_rndis_init(*m);
    (void)parse_rndis_request_id(*m);
  }
  check(walked <= size);
  if (size >= 2) {
    const uint32_t offset = data[0] * 8u;
    if (const auto pb = parse_page_buffers(bytes, offset)) {
      check(pb->count >= 1 && pb->count <= MAX_PAGE_BUFFER_COUNT);
      uint64_t total = 0;
      for (uint32_t i = 0; i < pb->count; ++i) {
        check(pb->buffers[i].length > 0 && pb->buffers[i].offset + pb->buffers[i].length <= HV_PAGE_SIZE);
        total += pb->buffers[i].length;
      }
      check(total == pb->total);
    }
  }
  return 0;
}
