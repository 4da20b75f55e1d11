// GuestLineMetrics (tools/enlight/ab/guest_lines.cpp): ENLIGHT-METRIC and
// ENLIGHT-MARK lines picked out of a console's byte stream.
#include "ab/guest_lines.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>

namespace {

using enlight::ab::GuestLineMetrics;

void feed(GuestLineMetrics& g, const std::string& bytes) {
  for (char c : bytes) g.put(static_cast<uint8_t>(c));
}

TEST(GuestLines, MetricParsed) {
  GuestLineMetrics g;
  feed(g, "ENLIGHT-METRIC name 123.5\n");
  ASSERT_EQ(g.metrics().size(), 1u);
  EXPECT_EQ(g.metrics()[0].name, "name");
  EXPECT_DOUBLE_EQ(g.metrics()[0].value, 123.5);
  EXPECT_EQ(g.malformed(), 0u);
  EXPECT_TRUE(g.marks().empty());
}

TEST(GuestLines, NumberForms) {
  GuestLineMetrics g;
  feed(g, "ENLIGHT-METRIC a 42\nENLIGHT-METRIC b -7.25\nENLIGHT-METRIC c 1.5e6\nENLIGHT-METRIC d.e-f_G9 0\n");
  ASSERT_EQ(g.metrics().size(), 4u);
  EXPECT_EQ(g.metrics()[0].name, "a");
  EXPECT_DOUBLE_EQ(g.metrics()[0].value, 42);
  EXPECT_DOUBLE_EQ(g.metrics()[1].value, -7.25);
  EXPECT_DOUBLE_EQ(g.metrics()[2].value, 1.5e6);
  EXPECT_EQ(g.metrics()[3].name, "d.e-f_G9");
  EXPECT_DOUBLE_EQ(g.metrics()[3].value, 0);
  EXPECT_EQ(g.malformed(), 0u);
}

TEST(GuestLines, CrLfLineEndings) {
  GuestLineMetrics g;
  feed(g, "ENLIGHT-METRIC reads 10\r\nENLIGHT-MARK init\r\nENLIGHT-METRIC writes 20\r\n");
  ASSERT_EQ(g.metrics().size(), 2u);
  EXPECT_EQ(g.metrics()[0].name, "reads");
  EXPECT_DOUBLE_EQ(g.metrics()[0].value, 10);
  EXPECT_EQ(g.metrics()[1].name, "writes");
  EXPECT_DOUBLE_EQ(g.metrics()[1].value, 20);
  ASSERT_EQ(g.marks().size(), 1u);
  EXPECT_EQ(g.marks()[0].name, "init");
  EXPECT_EQ(g.malformed(), 0u);
}

TEST(GuestLines, OrdinaryLinesIgnoredAndNotCounted) {
  GuestLineMetrics g;
  feed(g,
       "[    0.000000] Linux version 6.1.0\n"
       "\n"
       "\r\n"
       "login: \n"
       "ENLIGHT-METRICS x 1\n"        // not the keyword
       " ENLIGHT-METRIC x 1\n"        // not at the line's start
       "enlight-metric x 1\n"         // case matters
       "ENLIGHT-MARKER init\n"
       "say ENLIGHT-METRIC x 1\n" +
       std::string(400, 'k') + "\n");  // an overlong ordinary line
  EXPECT_TRUE(g.metrics().empty());
  EXPECT_TRUE(g.marks().empty());
  EXPECT_EQ(g.malformed(), 0u);
  feed(g, "ENLIGHT-METRIC x 1\n");
  EXPECT_EQ(g.metrics().size(), 1u);
}

TEST(GuestLines, MalformedLinesCounted) {
  const char* bad[] = {
      "ENLIGHT-METRIC name\n",                   // no value
      "ENLIGHT-METRIC name \n",                  // empty value
      "ENLIGHT-METRIC name abc\n",               // not a number
      "ENLIGHT-METRIC name 12abc\n",             // trailing junk
      "ENLIGHT-METRIC name 12 34\n",             // a second value
      "ENLIGHT-METRIC name 12 \n",               // a trailing space
      "ENLIGHT-METRIC na/me 1\n",                // bad name chars
      "ENLIGHT-METRIC na:me 1\n",
      "ENLIGHT-METRIC  1\n",                     // empty name
      "ENLIGHT-METRIC name nan\n",               // not finite
      "ENLIGHT-METRIC name inf\n",
      "ENLIGHT-METRIC name -inf\n",
      "ENLIGHT-METRIC name 1e999\n",             // overflows
      "ENLIGHT-MARK \n",                         // a mark without a name
      "ENLIGHT-MARK in it\n",                    // a mark with junk
      "ENLIGHT-MARK in/it\n",
  };
  GuestLineMetrics g;
  uint64_t n = 0;
  for (const char* line : bad) {
    SCOPED_TRACE(line);
    feed(g, line);
    ++n;
    EXPECT_EQ(g.malformed(), n);
  }
  EXPECT_TRUE(g.metrics().empty());
  EXPECT_TRUE(g.marks().empty());
}

TEST(GuestLines, NameLengthLimit) {
  GuestLineMetrics g;
  feed(g, "ENLIGHT-METRIC " + std::string(64, 'n') + " 5\n");
  ASSERT_EQ(g.metrics().size(), 1u);
  EXPECT_EQ(g.metrics()[0].name, std::string(64, 'n'));
  EXPECT_EQ(g.malformed(), 0u);
  feed(g, "ENLIGHT-METRIC " + std::string(65, 'n') + " 5\n");
  EXPECT_EQ(g.metrics().size(), 1u);
  EXPECT_EQ(g.malformed(), 1u);
  feed(g, "ENLIGHT-MARK " + std::string(65, 'm') + "\n");
  EXPECT_TRUE(g.marks().empty());
  EXPECT_EQ(g.malformed(), 2u);
}

TEST(GuestLines, OverlongLineCountedAndNextLineParsed) {
  GuestLineMetrics g;
  // 257 bytes before the newline: a valid-looking metric with a long value.
  std::string overlong = "ENLIGHT-METRIC pad 1";
  overlong += std::string(257 - overlong.size(), '0');
  ASSERT_EQ(overlong.size(), 257u);
  feed(g, overlong + "\nENLIGHT-METRIC after 7\n");
  EXPECT_EQ(g.malformed(), 1u);
  ASSERT_EQ(g.metrics().size(), 1u);
  EXPECT_EQ(g.metrics()[0].name, "after");
  EXPECT_DOUBLE_EQ(g.metrics()[0].value, 7);

  // Far longer, and a mark right after.
  feed(g, "ENLIGHT-MARK " + std::string(5000, 'x') + "\nENLIGHT-MARK next\n");
  EXPECT_EQ(g.malformed(), 2u);
  ASSERT_EQ(g.marks().size(), 1u);
  EXPECT_EQ(g.marks()[0].name, "next");
}

TEST(GuestLines, LineOfExactly256BytesIsAccepted) {
  GuestLineMetrics g;
  std::string line = "ENLIGHT-METRIC pad 1";
  line += std::string(256 - line.size(), '0');  // 1000...0, a long but finite number
  ASSERT_EQ(line.size(), 256u);
  feed(g, line + "\n");
  EXPECT_EQ(g.malformed(), 0u);
  ASSERT_EQ(g.metrics().size(), 1u);
  EXPECT_EQ(g.metrics()[0].name, "pad");
  EXPECT_GT(g.metrics()[0].value, 1e200);
}

TEST(GuestLines, MarksAreTimedFromStartClockInOrder) {
  GuestLineMetrics g;
  std::this_thread::sleep_for(std::chrono::milliseconds(3));  // the clock must be the one start_clock() set
  const auto before = std::chrono::steady_clock::now();
  g.start_clock();
  feed(g, "ENLIGHT-MARK init\n");
  const auto after_first = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  feed(g, "ENLIGHT-MARK login\r\n");
  const auto after_second = std::chrono::steady_clock::now();

  ASSERT_EQ(g.marks().size(), 2u);
  EXPECT_EQ(g.marks()[0].name, "init");
  EXPECT_EQ(g.marks()[1].name, "login");
  const double first = g.marks()[0].value, second = g.marks()[1].value;
  EXPECT_GE(first, 0);
  EXPECT_LE(first, std::chrono::duration<double>(after_first - before).count());
  EXPECT_GE(second, first + 0.0015);  // the 2 ms between them
  EXPECT_LE(second, std::chrono::duration<double>(after_second - before).count());
  EXPECT_TRUE(g.metrics().empty());
  EXPECT_EQ(g.malformed(), 0u);
}

TEST(GuestLines, MarkTakenWhenTheLineEnds) {
  GuestLineMetrics g;
  g.start_clock();
  feed(g, "ENLIGHT-MARK late");
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  EXPECT_TRUE(g.marks().empty());
  feed(g, "\n");
  ASSERT_EQ(g.marks().size(), 1u);
  EXPECT_GE(g.marks()[0].value, 0.0015);
}

TEST(GuestLines, MetricSplitAcrossManyPuts) {
  GuestLineMetrics g;
  const std::string line = "ENLIGHT-METRIC split_line 98765.25\r\n";
  for (size_t i = 0; i < line.size(); ++i) {
    g.put(static_cast<uint8_t>(line[i]));
    if (i + 1 < line.size()) {
      EXPECT_TRUE(g.metrics().empty()) << "a figure before the line ended, at byte " << i;
    }
  }
  ASSERT_EQ(g.metrics().size(), 1u);
  EXPECT_EQ(g.metrics()[0].name, "split_line");
  EXPECT_DOUBLE_EQ(g.metrics()[0].value, 98765.25);
}

TEST(GuestLines, InterleavedWithConsoleOutput) {
  GuestLineMetrics g;
  feed(g,
       "Run /init as init process\n"
       "ENLIGHT-MARK init\n"
       "some output\n"
       "ENLIGHT-METRIC clock_reads_per_second 12345678\n"
       "ENLIGHT-METRIC bad\n"
       "ENLIGHT-METRIC elapsed_us 500000\n"
       "ENLIGHT-MARK done\n");
  ASSERT_EQ(g.metrics().size(), 2u);
  EXPECT_EQ(g.metrics()[0].name, "clock_reads_per_second");
  EXPECT_DOUBLE_EQ(g.metrics()[0].value, 12345678);
  EXPECT_EQ(g.metrics()[1].name, "elapsed_us");
  ASSERT_EQ(g.marks().size(), 2u);
  EXPECT_EQ(g.marks()[0].name, "init");
  EXPECT_EQ(g.marks()[1].name, "done");
  EXPECT_LE(g.marks()[0].value, g.marks()[1].value);
  EXPECT_EQ(g.malformed(), 1u);
}

TEST(GuestLines, UnfinishedLineIsNotAFigure) {
  GuestLineMetrics g;
  feed(g, "ENLIGHT-METRIC pending 1");
  EXPECT_TRUE(g.metrics().empty());
  EXPECT_EQ(g.malformed(), 0u);
}

}  // namespace

namespace {

// The keyword alone is a report that lost its name: counted, not ignored.
TEST(GuestLines, BareKeywordIsMalformed) {
  GuestLineMetrics g;
  feed(g, "ENLIGHT-METRIC\nENLIGHT-MARK\r\nENLIGHT-METRICS 1\n");
  EXPECT_EQ(g.malformed(), 2u);
  EXPECT_TRUE(g.metrics().empty());
  EXPECT_TRUE(g.marks().empty());
}

}  // namespace
