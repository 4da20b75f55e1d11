// render_plot against the real gnuplot: gnuplot is a declared dependency of
// `enlight ab`, so its absence fails these tests instead of skipping them.
#include "ab/plot.hpp"

#include "enlight_test.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;
using enlight::ab::PlotRequest;
using enlight::ab::render_plot;

namespace {

using enlight::test::read_file;

// gnuplot escapes & and < in SVG text; undo that so names compare as written.
std::string xml_unescape(std::string s) {
  for (auto [from, to] : {std::pair{"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&apos;", "'"}, {"&amp;", "&"}})
    for (size_t at = 0; (at = s.find(from, at)) != std::string::npos; at += std::strlen(to))
      s.replace(at, std::strlen(from), to);
  return s;
}

class Plot : public ::testing::Test {
 protected:
  void SetUp() override {
    // Under the build tree, so a failed test's figures can be looked at.
    dir_ = fs::path(ENLIGHT_TEST_BINARY_DIR) / "tests/cli/ab/plot_test" /
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }

  PlotRequest two_variants() const {
    PlotRequest r;
    r.figure = "guest reads/s";
    r.unit = "reads/s";
    r.title = "time-read: PM timer vs TSC page";
    r.series = {{"pm-timer", {101.5, 98.2, 100.1, 99.7, 102.3, 97.9, 100.8, 135.0}},
                {"tsc-page", {2010.0, 1995.5, 2003.2, 1988.7, 2021.4, 2000.0, 1990.1, 2008.8}}};
    r.out_stem = (dir_ / "time-read.reads_per_second").string();
    return r;
  }

  fs::path dir_;
};

TEST_F(Plot, GnuplotIsInstalled) {
  EXPECT_TRUE(enlight::ab::gnuplot_available()) << "gnuplot is a dependency of enlight ab: apt-get install gnuplot-nox";
}

TEST_F(Plot, TwoVariantsMakePngAndSvg) {
  const PlotRequest req = two_variants();
  const auto res = render_plot(req);
  const std::string stem = req.out_stem;
  ASSERT_EQ(res.files, (std::vector<std::string>{stem + ".dat", stem + ".gp", stem + ".svg", stem + ".png"}));

  const std::string png = read_file(stem + ".png");
  ASSERT_GE(png.size(), 24u);
  EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  // IHDR: big-endian width and height right after the chunk header.
  auto be32 = [&](size_t at) {
    return (uint32_t(uint8_t(png[at])) << 24) | (uint32_t(uint8_t(png[at + 1])) << 16) |
           (uint32_t(uint8_t(png[at + 2])) << 8) | uint32_t(uint8_t(png[at + 3]));
  };
  EXPECT_EQ(be32(16), 800u);
  EXPECT_EQ(be32(20), 500u);
  // Boxes, points, axes and text: well above an empty canvas, well below a photo.
  EXPECT_GT(png.size(), 10'000u);
  EXPECT_LT(png.size(), 2'000'000u);

  const std::string svg = xml_unescape(read_file(stem + ".svg"));
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("pm-timer"), std::string::npos);
  EXPECT_NE(svg.find("tsc-page"), std::string::npos);
  EXPECT_NE(svg.find(req.title), std::string::npos);
  EXPECT_NE(svg.find("guest reads/s (reads/s)"), std::string::npos);

  // The script re-renders by itself from its own directory.
  const std::string gp = read_file(stem + ".gp");
  EXPECT_NE(gp.find("with boxplot"), std::string::npos);
  EXPECT_NE(gp.find("time-read.reads_per_second.dat"), std::string::npos);
  EXPECT_EQ(gp.find(dir_.string()), std::string::npos) << "absolute paths break a moved result directory";
  EXPECT_NE(read_file(stem + ".dat").find("2021.4"), std::string::npos);
}

TEST_F(Plot, SameRequestSameFiles) {
  PlotRequest req = two_variants();
  render_plot(req);
  const std::string dat = read_file(req.out_stem + ".dat"), gp = read_file(req.out_stem + ".gp");
  render_plot(req);
  EXPECT_EQ(read_file(req.out_stem + ".dat"), dat);
  EXPECT_EQ(read_file(req.out_stem + ".gp"), gp);
}

TEST_F(Plot, AwkwardNamesSurviveIntoSvg) {
  PlotRequest req = two_variants();
  const std::vector<std::string> names = {"it's \"quoted\"", "back\\slash\\n", "hv_time@{x}_y", "`echo PWNED` & <b>", "ends in\\"};
  req.series.clear();
  for (size_t i = 0; i < names.size(); ++i) req.series.push_back({names[i], {1.0 + i, 2.0 + i, 3.0 + i, 2.5 + i, 1.5 + i}});
  req.title = "A/B 'run' \"1\" x_1 @y back\\slash\nsecond line";
  req.figure = "figure\\";
  req.out_stem = (dir_ / "-odd name's").string();
  render_plot(req);

  const std::string svg = xml_unescape(read_file(req.out_stem + ".svg"));
  for (const std::string& n : names) EXPECT_NE(svg.find(n), std::string::npos) << n;
  EXPECT_NE(svg.find("A/B 'run' \"1\" x_1 @y back\\slash"), std::string::npos);
  EXPECT_NE(svg.find("second line"), std::string::npos);
  EXPECT_EQ(svg.find(">PWNED<"), std::string::npos) << "a backquoted name was run";
}

TEST_F(Plot, MissingGnuplotThrowsAndLeavesScript) {
  const PlotRequest req = two_variants();
  EXPECT_FALSE(enlight::ab::gnuplot_available("enlight-no-such-gnuplot"));
  try {
    render_plot(req, "enlight-no-such-gnuplot");
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("gnuplot"), std::string::npos) << what;
    EXPECT_NE(what.find(req.out_stem + ".gp"), std::string::npos) << what;
    EXPECT_NE(what.find("gnuplot-nox"), std::string::npos) << what;
  }
  EXPECT_TRUE(fs::exists(req.out_stem + ".gp"));
  EXPECT_TRUE(fs::exists(req.out_stem + ".dat"));
}

TEST_F(Plot, FailingGnuplotReportsItsStderr) {
  const fs::path fake = dir_ / "fake-gnuplot";
  std::ofstream(fake) << "#!/bin/sh\necho 'line 3: undefined variable: oops' >&2\nexit 1\n";
  fs::permissions(fake, fs::perms::owner_all);
  try {
    render_plot(two_variants(), fake.string());
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("undefined variable: oops"), std::string::npos) << what;
    EXPECT_NE(what.find("exit status 1"), std::string::npos) << what;
  }
}

TEST_F(Plot, EmptyInputIsInvalid) {
  PlotRequest req = two_variants();
  req.series.clear();
  EXPECT_THROW(render_plot(req), std::invalid_argument);

  req = two_variants();
  req.series[1].samples.clear();
  EXPECT_THROW(render_plot(req), std::invalid_argument);

  req = two_variants();
  req.series[0].samples.push_back(std::nan(""));
  EXPECT_THROW(render_plot(req), std::invalid_argument);
}

}  // namespace

namespace {

// Variants orders of magnitude apart (a TSC page's 10 M reads/s beside the
// PM timer's 10 k) get a log axis; within two orders, or with a zero, a
// linear one (log of zero does not exist).
TEST_F(Plot, LogScaleOnlyForVariantsOrdersOfMagnitudeApart) {
  PlotRequest near = two_variants();  // 100 vs 2000: 20x apart
  render_plot(near);
  EXPECT_EQ(read_file(near.out_stem + ".gp").find("set logscale y"), std::string::npos);
  PlotRequest far = two_variants();
  far.out_stem += "-far";
  far.series[1].samples = {1.0e7, 1.1e7, 0.9e7, 1.05e7};
  render_plot(far);
  EXPECT_NE(read_file(far.out_stem + ".gp").find("set logscale y"), std::string::npos);
  PlotRequest zero = far;
  zero.out_stem += "-zero";
  zero.series[0].samples = {0, 0, 0, 0};
  render_plot(zero);
  EXPECT_EQ(read_file(zero.out_stem + ".gp").find("set logscale y"), std::string::npos);
}

}  // namespace
