// The embedded guest images: the registry, and that each image is a
// well-formed flat image for the harness ABI (header at the load address,
// entry code right after it, fits between the stacks and the end of RAM).
#include <enlight/core/guest/images.hpp>
#include <enlight/core/guest/protocol.h>

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

namespace {

using enlight::guests::GuestImage;

uint64_t read_u64(const uint8_t* p) {
  uint64_t v = 0;
  std::memcpy(&v, p, sizeof v);
  return v;
}

TEST(GuestImages, RegistryListsTheConformanceGuests) {
  auto images = enlight::guests::all();
  ASSERT_FALSE(images.empty()) << "guests were not built (x86-64 GCC/Clang and objcopy needed)";
  std::set<std::string> names;
  for (const GuestImage& image : images) {
    ASSERT_NE(image.name, nullptr);
    ASSERT_NE(image.description, nullptr);
    EXPECT_GT(std::strlen(image.description), 0u) << image.name;
    EXPECT_TRUE(names.insert(image.name).second) << "duplicate " << image.name;
  }
  for (const char* expected : {"conformance-identity", "conformance-msrs", "conformance-spinlocks"})
    EXPECT_EQ(names.count(expected), 1u) << expected;
}

TEST(GuestImages, FindByName) {
  const GuestImage* image = enlight::guests::find("conformance-identity");
  ASSERT_NE(image, nullptr);
  EXPECT_STREQ(image->name, "conformance-identity");
  EXPECT_EQ(enlight::guests::find(enlight::guests::kDefaultGuest), image);
  EXPECT_EQ(enlight::guests::find("no-such-guest"), nullptr);
  EXPECT_EQ(enlight::guests::find(""), nullptr);
  EXPECT_EQ(enlight::guests::find("conformance-identit"), nullptr);
  for (const GuestImage& each : enlight::guests::all()) EXPECT_EQ(enlight::guests::find(each.name), &each);
}

TEST(GuestImages, EachImageIsAWellFormedFlatImage) {
  for (const GuestImage& image : enlight::guests::all()) {
    SCOPED_TRACE(image.name);
    ASSERT_NE(image.data, nullptr);
    ASSERT_GT(image.size, enlight::guests::kImageHeaderSize);
    const uint8_t* d = image.data;
    // Entry: a short jump over the 32-byte header to cli; cld.
    EXPECT_EQ(d[0], 0xEB);
    EXPECT_EQ(d[1], enlight::guests::kImageHeaderSize - 2);
    EXPECT_EQ(std::memcmp(d + enlight::guests::kImageMagicOffset, enlight::guests::kImageMagic, 8), 0);
    EXPECT_EQ(d[enlight::guests::kImageHeaderSize], 0xFA);      // cli
    EXPECT_EQ(d[enlight::guests::kImageHeaderSize + 1], 0xFC);  // cld

    // The header's end of image is exactly where the flat bytes end.
    const uint64_t load_end = read_u64(d + enlight::guests::kImageLoadEndOffset);
    const uint64_t memory_end = read_u64(d + enlight::guests::kImageMemoryEndOffset);
    EXPECT_EQ(load_end, ENLIGHT_GUEST_LOAD_ADDRESS + image.size);
    // .bss follows, page aligned, and everything fits in the default RAM.
    EXPECT_GE(memory_end, load_end);
    EXPECT_EQ(memory_end % 16, 0u);
    EXPECT_LE(memory_end, uint64_t{ENLIGHT_GUEST_DEFAULT_RAM});
    // The image sits above every vCPU stack.
    EXPECT_GE(uint64_t{ENLIGHT_GUEST_LOAD_ADDRESS}, uint64_t{ENLIGHT_GUEST_STACK_TOP});
    // Small: these are unit-sized programs, not kernels.
    EXPECT_LT(image.size, 1u << 20);
  }
}

TEST(GuestImages, ImagesDifferButShareTheRuntime) {
  auto images = enlight::guests::all();
  ASSERT_GE(images.size(), 2u);
  // Same entry code (the runtime is linked first), different programs.
  EXPECT_EQ(std::memcmp(images[0].data + 32, images[1].data + 32, 16), 0);
  EXPECT_FALSE(images[0].size == images[1].size &&
               std::memcmp(images[0].data, images[1].data, images[0].size) == 0);
}

}  // namespace
