// parse_experiment / load_experiment (tools/enlight/ab/experiment.cpp): what an
// experiment file turns into (the `enlight run` arguments of each variant,
// the figures, the defaults) and every refusal naming the file, the line
// of the offending node and the fix.
#include "ab/experiment.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

namespace {

using enlight::ConfigError;
using namespace enlight::ab;
using Args = std::vector<std::string>;

constexpr const char* kFile = "exp/test.yaml";
constexpr const char* kBase = "/exp/dir";

// 1-based line of the first line containing `needle` (0: none).
int line_of(const std::string& text, const std::string& needle) {
  const auto at = text.find(needle);
  if (at == std::string::npos) return 0;
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(at), '\n'));
}

Experiment parse(const std::string& text, const std::string& base = kBase) { return parse_experiment(text, kFile, base); }

// Parses `text`, expecting a ConfigError at `line` whose message contains
// `words`; checks the message names file:line and has a fix.
void expect_refused(const std::string& text, int line, const std::string& words) {
  ASSERT_GT(line, 0) << "the test's marker is not in the text";
  try {
    (void)parse(text);
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.where().file, kFile) << what;
    EXPECT_EQ(e.where().line, line) << what;
    EXPECT_NE(what.find(std::string(kFile) + ":" + std::to_string(line) + ":"), std::string::npos)
        << "the message does not name " << kFile << ":" << line << ": " << what;
    EXPECT_NE(what.find("fix:"), std::string::npos) << what;
    EXPECT_FALSE(e.fix().empty()) << what;
    EXPECT_NE(what.find(words), std::string::npos) << "expected '" << words << "' in: " << what;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a ConfigError: " << e.what();
  }
}

// A minimal valid file; the refusal tests change one thing in it.
const std::string kMinimal =
    "experiment: minimal\n"
    "workload:\n"
    "  guest: workload-timeread\n"
    "  duration: 0.5\n"
    "variants:\n"
    "  - name: a\n"
    "    cpu: hv-frequencies\n"
    "  - name: b\n"
    "    cpu: hv-frequencies,hv-time\n"
    "figures:\n"
    "  - name: reads\n"
    "    guest: reads_per_second\n";

// kMinimal with `from` replaced by `to` (which must occur).
std::string with(const std::string& from, const std::string& to, std::string text = kMinimal) {
  const auto at = text.find(from);
  EXPECT_NE(at, std::string::npos) << from;
  if (at != std::string::npos) text.replace(at, from.size(), to);
  return text;
}

const std::string kKernelWorkload =
    "experiment: kern\n"
    "workload:\n"
    "  kernel: vmlinuz\n"
    "  append: console=ttyS0\n"
    "variants:\n"
    "  - name: a\n"
    "    cpu: hv-time\n"
    "  - name: b\n"
    "    cpu: hv-frequencies\n"
    "figures:\n"
    "  - name: init\n"
    "    mark: init\n";

// --- a full file --------------------------------------------------------

const std::string kFull =
    "# a comment first\n"
    "experiment: full\n"
    "description: every key there is\n"
    "repetitions: 7\n"
    "warmup: 2\n"
    "seed: 42\n"
    "confidence: 0.9\n"
    "resamples: 2000\n"
    "baseline: b\n"
    "backend: emu\n"
    "workload:\n"
    "  kernel: boot/vmlinuz\n"
    "  initrd: ../images/initrd.gz\n"
    "  append: console=ttyS0 quiet\n"
    "  memory: 256M\n"
    "  machine: pc\n"
    "  timeout: 60\n"
    "  vcpus: 2\n"
    "variants:\n"
    "  - name: a\n"
    "    cpu: hv-time\n"
    "    offload: time\n"
    "  - name: b\n"
    "    profile: recommended\n"
    "    backend: kvm\n"
    "    append: clocksource=acpi_pm\n"
    "  - name: c.3-x_y\n"
    "    profile: profiles/mine.yaml\n"
    "    vcpus: 4\n"
    "    args: [--label, k=v]\n"
    "figures:\n"
    "  - name: to_init\n"
    "    mark: init\n"
    "    better: lower\n"
    "  - name: reads\n"
    "    guest: clock_reads_per_second\n"
    "    better: higher\n"
    "  - name: exits_ps\n"
    "    stat: exits\n"
    "    per_second: true\n"
    "  - name: eois\n"
    "    counter: pv_eois\n"
    "    plugin: apic\n"
    "    unit: count\n"
    "  - name: wall\n"
    "    run: seconds\n";

TEST(ParseExperiment, FullFileTopLevel) {
  const Experiment e = parse(kFull);
  EXPECT_EQ(e.name, "full");
  EXPECT_EQ(e.description, "every key there is");
  EXPECT_EQ(e.file, kFile);
  EXPECT_EQ(e.repetitions, 7u);
  EXPECT_EQ(e.warmup, 2u);
  ASSERT_TRUE(e.seed.has_value());
  EXPECT_EQ(*e.seed, 42u);
  EXPECT_DOUBLE_EQ(e.confidence, 0.9);
  EXPECT_EQ(e.resamples, 2000u);
  EXPECT_EQ(e.baseline, "b");
}

TEST(ParseExperiment, FullFileWorkloadArgsResolvePathsAgainstBaseDir) {
  const Experiment e = parse(kFull);
  // --append travels with each variant, not with the shared args.
  EXPECT_EQ(e.workload_args, (Args{"--kernel", "/exp/dir/boot/vmlinuz", "--initrd", "/exp/images/initrd.gz", "--memory",
                                   "256M", "--machine", "pc", "--timeout", "60", "--vcpus", "2"}));
}

TEST(ParseExperiment, FullFileVariantRunArgs) {
  const Experiment e = parse(kFull);
  ASSERT_EQ(e.variants.size(), 3u);
  EXPECT_EQ(e.variants[0].name, "a");
  EXPECT_EQ(e.variants[0].run_args,
            (Args{"--cpu", "hv-time", "--offload", "time", "--backend", "emu", "--append", "console=ttyS0 quiet"}));
  // Its own backend overrides the file's; its append joins the workload's.
  EXPECT_EQ(e.variants[1].name, "b");
  EXPECT_EQ(e.variants[1].run_args, (Args{"recommended", "--backend", "kvm", "--append",
                                          "console=ttyS0 quiet clocksource=acpi_pm"}));
  // A profile given as a path is resolved; extra args come last.
  EXPECT_EQ(e.variants[2].name, "c.3-x_y");
  EXPECT_EQ(e.variants[2].run_args, (Args{"/exp/dir/profiles/mine.yaml", "--backend", "emu", "--vcpus", "4", "--append",
                                          "console=ttyS0 quiet", "--label", "k=v"}));
  EXPECT_EQ(e.variants[0].where.file, kFile);
  EXPECT_EQ(e.variants[0].where.line, line_of(kFull, "- name: a"));
  EXPECT_EQ(e.variants[2].where.line, line_of(kFull, "- name: c.3"));
}

TEST(ParseExperiment, FullFileFigures) {
  const Experiment e = parse(kFull);
  ASSERT_EQ(e.figures.size(), 5u);
  const Figure& init = e.figures[0];
  EXPECT_EQ(init.name, "to_init");
  EXPECT_EQ(init.source, Source::Mark);
  EXPECT_EQ(init.key, "init");
  EXPECT_EQ(init.unit, "s");
  EXPECT_EQ(init.better, "lower");
  EXPECT_FALSE(init.per_second);
  EXPECT_EQ(init.where.line, line_of(kFull, "- name: to_init"));

  const Figure& reads = e.figures[1];
  EXPECT_EQ(reads.source, Source::Guest);
  EXPECT_EQ(reads.key, "clock_reads_per_second");
  EXPECT_EQ(reads.better, "higher");
  EXPECT_EQ(reads.unit, "");

  const Figure& exits = e.figures[2];
  EXPECT_EQ(exits.source, Source::Stat);
  EXPECT_EQ(exits.key, "exits");
  EXPECT_TRUE(exits.per_second);
  EXPECT_EQ(exits.unit, "1/s");
  EXPECT_EQ(exits.better, "");

  const Figure& eois = e.figures[3];
  EXPECT_EQ(eois.source, Source::Counter);
  EXPECT_EQ(eois.key, "pv_eois");
  EXPECT_EQ(eois.plugin, "apic");
  EXPECT_EQ(eois.unit, "count");

  const Figure& wall = e.figures[4];
  EXPECT_EQ(wall.source, Source::RunSeconds);
  EXPECT_EQ(wall.key, "seconds");
  EXPECT_EQ(wall.unit, "s");
}

TEST(ParseExperiment, SourceNames) {
  EXPECT_STREQ(to_string(Source::Guest), "guest");
  EXPECT_STREQ(to_string(Source::Mark), "mark");
  EXPECT_STREQ(to_string(Source::Stat), "stat");
  EXPECT_STREQ(to_string(Source::Counter), "counter");
  EXPECT_STREQ(to_string(Source::RunSeconds), "run");
}

TEST(ParseExperiment, Defaults) {
  const Experiment e = parse(kMinimal);
  EXPECT_EQ(e.name, "minimal");
  EXPECT_EQ(e.description, "");
  EXPECT_EQ(e.baseline, "a");
  EXPECT_EQ(e.repetitions, 10u);
  EXPECT_EQ(e.warmup, 1u);
  EXPECT_DOUBLE_EQ(e.confidence, 0.95);
  EXPECT_EQ(e.resamples, 10000u);
  EXPECT_FALSE(e.seed.has_value());
  // No backend anywhere: none passed, `enlight run` picks its own.
  ASSERT_EQ(e.variants.size(), 2u);
  EXPECT_EQ(e.variants[0].run_args, (Args{"--cpu", "hv-frequencies"}));
  EXPECT_EQ(e.variants[1].run_args, (Args{"--cpu", "hv-frequencies,hv-time"}));
  EXPECT_EQ(e.workload_args, (Args{"--guest", "workload-timeread", "--duration", "0.5"}));
}

TEST(ParseExperiment, BaselineMayBeAnyVariant) {
  EXPECT_EQ(parse("baseline: b\n" + kMinimal).baseline, "b");
}

TEST(ParseExperiment, ZeroWarmupAndEdgeValuesAccepted) {
  const Experiment e = parse("warmup: 0\nrepetitions: 2\nconfidence: 0.5\n" + kMinimal);
  EXPECT_EQ(e.warmup, 0u);
  EXPECT_EQ(e.repetitions, 2u);
  EXPECT_DOUBLE_EQ(e.confidence, 0.5);
}

TEST(ParseExperiment, BuiltInGuestNameLeftAlonePathResolved) {
  EXPECT_EQ(parse(kMinimal).workload_args[1], "workload-timeread");
  EXPECT_EQ(parse(with("guest: workload-timeread", "guest: guests/mine.elf")).workload_args[1],
            "/exp/dir/guests/mine.elf");
  EXPECT_EQ(parse(with("guest: workload-timeread", "guest: ./mine.elf")).workload_args[1], "/exp/dir/mine.elf");
  EXPECT_EQ(parse(with("guest: workload-timeread", "guest: /abs/mine.elf")).workload_args[1], "/abs/mine.elf");
  // No base directory (a file in the current directory): paths stay as written.
  EXPECT_EQ(parse(with("guest: workload-timeread", "guest: guests/mine.elf"), "").workload_args[1], "guests/mine.elf");
}

TEST(ParseExperiment, KernelPathsResolvedAbsoluteKept) {
  const Experiment e = parse(with("  kernel: vmlinuz\n", "  kernel: /boot/vmlinuz\n  initrd: i/rd.gz\n", kKernelWorkload));
  EXPECT_EQ(e.workload_args, (Args{"--kernel", "/boot/vmlinuz", "--initrd", "/exp/dir/i/rd.gz"}));
  const Experiment r = parse(kKernelWorkload);
  EXPECT_EQ(r.workload_args, (Args{"--kernel", "/exp/dir/vmlinuz"}));
  // The workload's append alone still reaches every variant.
  EXPECT_EQ(r.variants[0].run_args, (Args{"--cpu", "hv-time", "--append", "console=ttyS0"}));
  EXPECT_EQ(r.variants[1].run_args, (Args{"--cpu", "hv-frequencies", "--append", "console=ttyS0"}));
}

TEST(ParseExperiment, VariantAppendWithoutWorkloadAppend) {
  const Experiment e =
      parse(with("    cpu: hv-frequencies\n", "    cpu: hv-frequencies\n    append: clocksource=acpi_pm\n",
                 with("  append: console=ttyS0\n", "", kKernelWorkload)));
  EXPECT_EQ(e.variants[0].run_args, (Args{"--cpu", "hv-time"}));
  EXPECT_EQ(e.variants[1].run_args, (Args{"--cpu", "hv-frequencies", "--append", "clocksource=acpi_pm"}));
}

TEST(ParseExperiment, ProfileNameVersusProfileFile) {
  EXPECT_EQ(parse(with("    cpu: hv-frequencies\n", "    profile: recommended\n")).variants[0].run_args,
            (Args{"recommended"}));
  EXPECT_EQ(parse(with("    cpu: hv-frequencies\n", "    profile: mine.yaml\n")).variants[0].run_args,
            (Args{"/exp/dir/mine.yaml"}));
}

TEST(ParseExperiment, EmptyCpuListIsAnArgument) {
  // linux.yaml's `none` variant: no enlightenment at all.
  EXPECT_EQ(parse(with("    cpu: hv-frequencies\n", "    cpu: \"\"\n")).variants[0].run_args, (Args{"--cpu", ""}));
}

// --- refusals -----------------------------------------------------------

TEST(ParseExperimentRefuses, UnknownTopLevelKey) {
  const std::string t = with("workload:\n", "repetitons: 5\nworkload:\n");
  expect_refused(t, line_of(t, "repetitons"), "repetitons");
}

TEST(ParseExperimentRefuses, UnknownVariantKey) {
  const std::string t = with("    cpu: hv-frequencies,hv-time\n", "    cpu: hv-frequencies,hv-time\n    cpus: 2\n");
  expect_refused(t, line_of(t, "cpus: 2"), "cpus");
}

TEST(ParseExperimentRefuses, UnknownWorkloadAndFigureKeys) {
  const std::string w = with("  duration: 0.5\n", "  duration: 0.5\n  memroy: 1G\n");
  expect_refused(w, line_of(w, "memroy"), "memroy");
  const std::string f = with("    guest: reads_per_second\n", "    guest: reads_per_second\n    units: 1/s\n");
  expect_refused(f, line_of(f, "units:"), "units");
}

TEST(ParseExperimentRefuses, FewerThanTwoVariants) {
  const std::string one = with("variants:\n  - name: a\n    cpu: hv-frequencies\n  - name: b\n    cpu: hv-frequencies,hv-time\n",
                               "variants: [{name: a, cpu: hv-time}]\n");
  expect_refused(one, line_of(one, "variants:"), "two");
  const std::string none = with("variants:\n  - name: a\n    cpu: hv-frequencies\n  - name: b\n    cpu: hv-frequencies,hv-time\n",
                                "variants: []\n");
  expect_refused(none, line_of(none, "variants:"), "two");
}

TEST(ParseExperimentRefuses, DuplicateVariantNames) {
  const std::string t = with("  - name: b\n", "  - name: a\n");
  // The second one is the offender.
  const int second = line_of(t, "cpu: hv-frequencies,hv-time") - 1;
  expect_refused(t, second, "'a'");
}

TEST(ParseExperimentRefuses, DuplicateFigureNames) {
  const std::string t = kMinimal + "  - name: reads\n    stat: exits\n";
  expect_refused(t, line_of(t, "stat: exits") - 1, "'reads'");
}

TEST(ParseExperimentRefuses, FigureWithoutSource) {
  const std::string t = with("    guest: reads_per_second\n", "    unit: x\n");
  expect_refused(t, line_of(t, "- name: reads"), "exactly one source");
}

TEST(ParseExperimentRefuses, FigureWithTwoSources) {
  const std::string t = with("    guest: reads_per_second\n", "    guest: reads_per_second\n    stat: exits\n");
  expect_refused(t, line_of(t, "- name: reads"), "exactly one source");
}

TEST(ParseExperimentRefuses, RunOther) {
  const std::string t = with("    guest: reads_per_second\n", "    run: minutes\n");
  expect_refused(t, line_of(t, "run: minutes"), "minutes");
}

TEST(ParseExperimentRefuses, PluginWithoutCounter) {
  const std::string t = with("    guest: reads_per_second\n", "    guest: reads_per_second\n    plugin: apic\n");
  expect_refused(t, line_of(t, "plugin: apic"), "plugin");
}

TEST(ParseExperimentRefuses, BadBetter) {
  const std::string t = with("    guest: reads_per_second\n", "    guest: reads_per_second\n    better: faster\n");
  expect_refused(t, line_of(t, "better: faster"), "faster");
}

TEST(ParseExperimentRefuses, BadPerSecond) {
  const std::string t = with("    guest: reads_per_second\n", "    guest: reads_per_second\n    per_second: maybe\n");
  expect_refused(t, line_of(t, "per_second: maybe"), "maybe");
}

TEST(ParseExperimentRefuses, RepetitionsOne) {
  const std::string t = "repetitions: 1\n" + kMinimal;
  expect_refused(t, 1, "repetitions");
}

TEST(ParseExperimentRefuses, RepetitionsNotANumber) {
  for (const char* bad : {"ten", "5x", "-3", "2.5", "0"}) {
    SCOPED_TRACE(bad);
    const std::string t = with("workload:\n", std::string("repetitions: ") + bad + "\nworkload:\n");
    expect_refused(t, line_of(t, "repetitions:"), "repetitions");
  }
}

TEST(ParseExperimentRefuses, ConfidenceOutOfRange) {
  for (const char* bad : {"1", "0.3", "high", "nan"}) {
    SCOPED_TRACE(bad);
    const std::string t = with("workload:\n", std::string("confidence: ") + bad + "\nworkload:\n");
    expect_refused(t, line_of(t, "confidence:"), "confidence");
  }
}

TEST(ParseExperimentRefuses, VariantWithCpuAndProfile) {
  const std::string t = with("    cpu: hv-frequencies,hv-time\n", "    cpu: hv-frequencies,hv-time\n    profile: recommended\n");
  expect_refused(t, line_of(t, "- name: b"), "both");
}

TEST(ParseExperimentRefuses, BaselineNamingNoVariant) {
  const std::string t = with("workload:\n", "baseline: c\nworkload:\n");
  expect_refused(t, line_of(t, "baseline: c"), "'c'");
}

TEST(ParseExperimentRefuses, WorkloadWithNeitherGuestNorKernel) {
  const std::string t = with("workload:\n  guest: workload-timeread\n  duration: 0.5\n", "workload: {memory: 1G}\n");
  expect_refused(t, line_of(t, "workload:"), "exactly one");
}

TEST(ParseExperimentRefuses, WorkloadWithGuestAndKernel) {
  const std::string flow =
      with("workload:\n  guest: workload-timeread\n  duration: 0.5\n", "workload: {guest: workload-timeread, kernel: vmlinuz}\n");
  expect_refused(flow, line_of(flow, "workload:"), "exactly one");
  // A block map is found at its first key.
  const std::string block = with("  duration: 0.5\n", "  kernel: vmlinuz\n");
  expect_refused(block, line_of(block, "guest: workload-timeread"), "exactly one");
}

TEST(ParseExperimentRefuses, DurationWithKernel) {
  const std::string t = with("  append: console=ttyS0\n", "  append: console=ttyS0\n  duration: 2\n", kKernelWorkload);
  expect_refused(t, line_of(t, "duration: 2"), "duration");
}

TEST(ParseExperimentRefuses, AppendOnGuestWorkload) {
  const std::string t = with("  duration: 0.5\n", "  duration: 0.5\n  append: quiet\n");
  expect_refused(t, line_of(t, "append: quiet"), "append");
}

TEST(ParseExperimentRefuses, VariantAppendOnGuestWorkload) {
  const std::string t = with("    cpu: hv-frequencies,hv-time\n", "    cpu: hv-frequencies,hv-time\n    append: quiet\n");
  expect_refused(t, line_of(t, "append: quiet"), "append");
}

TEST(ParseExperimentRefuses, BadVariantBackend) {
  const std::string t = with("    cpu: hv-frequencies,hv-time\n", "    cpu: hv-frequencies,hv-time\n    backend: xen\n");
  expect_refused(t, line_of(t, "backend: xen"), "xen");
}

TEST(ParseExperimentRefuses, InvalidYamlSyntax) {
  // Line 7: a flow sequence never closed.
  const std::string t = with("    cpu: hv-frequencies\n", "    cpu: [hv-frequencies\n");
  ASSERT_EQ(line_of(t, "cpu: [hv"), 7);
  try {
    (void)parse(t);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("not valid YAML"), std::string::npos) << what;
    EXPECT_NE(what.find(kFile), std::string::npos) << what;
    EXPECT_NE(what.find("fix:"), std::string::npos) << what;
    // yaml-cpp finds an unclosed flow sequence where the next token breaks
    // it: at or after its opening line, never before.
    EXPECT_GE(e.where().line, 7) << what;
    EXPECT_LE(e.where().line, 9) << what;
  }
  const std::string nested = "experiment: x\nvariants: a\n  b: c\n";  // a mapping inside a plain scalar
  try {
    (void)parse(nested);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_EQ(e.where().line, 3) << what;
    EXPECT_NE(what.find(std::string(kFile) + ":3:"), std::string::npos) << what;
    EXPECT_NE(what.find("fix:"), std::string::npos) << what;
  }
}

TEST(ParseExperimentRefuses, NamesWithSpaceOrSlash) {
  const std::string space = with("  - name: b\n", "  - name: b c\n");
  expect_refused(space, line_of(space, "name: b c"), "not a name");
  const std::string slash = with("  - name: b\n", "  - name: b/c\n");
  expect_refused(slash, line_of(slash, "name: b/c"), "not a name");
  const std::string figure = with("  - name: reads\n", "  - name: reads per s\n");
  expect_refused(figure, line_of(figure, "reads per s"), "not a name");
  const std::string exp = with("experiment: minimal\n", "experiment: ../minimal\n");
  expect_refused(exp, 1, "not a name");
  const std::string longname = with("  - name: b\n", "  - name: " + std::string(65, 'b') + "\n");
  expect_refused(longname, line_of(longname, "name: bbb"), "not a name");
}

TEST(ParseExperimentRefuses, VcpusOutOfRange) {
  const std::string t = with("    cpu: hv-frequencies,hv-time\n", "    cpu: hv-frequencies,hv-time\n    vcpus: 33\n");
  expect_refused(t, line_of(t, "vcpus: 33"), "vcpus");
}

TEST(ParseExperimentRefuses, NoFigures) {
  const std::string t = with("figures:\n  - name: reads\n    guest: reads_per_second\n", "figures: []\n");
  expect_refused(t, line_of(t, "figures:"), "figures");
}

TEST(ParseExperimentRefuses, NotAMapOrNoName) {
  EXPECT_THROW((void)parse("- a\n- b\n"), ConfigError);
  EXPECT_THROW((void)parse(with("experiment: minimal\n", "")), ConfigError);
}

// --- bugs found while writing these tests ( until fixed) --------

// A bad top-level `backend` is refused at its own line, not at the first
// variant that inherits it.
TEST(ParseExperimentRefuses, BadTopLevelBackendNamesItsOwnLine) {
  const std::string t = with("workload:\n", "backend: xen\nworkload:\n");
  expect_refused(t, line_of(t, "backend: xen"), "xen");
}

// `backend` under `workload` must reach every run or be refused, never be
// accepted and ignored (the runs would go to the default backend).
TEST(ParseExperiment, WorkloadBackendIsUsedOrRefused) {
  const std::string t = with("  duration: 0.5\n", "  duration: 0.5\n  backend: kvm\n");
  Experiment e;
  try {
    e = parse(t);
  } catch (const ConfigError& err) {
    SUCCEED() << "refused: " << err.what();
    return;
  }
  const auto has_kvm = [](const Args& a) {
    for (size_t i = 0; i + 1 < a.size(); ++i)
      if (a[i] == "--backend" && a[i + 1] == "kvm") return true;
    return false;
  };
  for (const Variant& v : e.variants) {
    Args all = e.workload_args;
    all.insert(all.end(), v.run_args.begin(), v.run_args.end());
    EXPECT_TRUE(has_kvm(all)) << "variant " << v.name << " does not run on the workload's backend: kvm";
  }
}

// Whole numbers are decimal, as YAML 1.2 reads them: `repetitions: 010` is
// ten runs, not eight.
TEST(ParseExperiment, LeadingZeroIsDecimal) {
  EXPECT_EQ(parse("repetitions: 010\n" + kMinimal).repetitions, 10u);
  EXPECT_NO_THROW((void)parse("repetitions: 08\n" + kMinimal));
}

// A key that is not a scalar (`? [a, b]`) is a ConfigError naming the file
// and the fix, not a yaml-cpp conversion exception.
TEST(ParseExperimentRefuses, NonScalarKeyIsAConfigError) {
  const std::string top = with("workload:\n", "? [a, b]\n: c\nworkload:\n");
  expect_refused(top, line_of(top, "? [a, b]"), "");
  const std::string variant = with("  - name: b\n", "  - name: b\n    {x: 1}: 2\n");
  expect_refused(variant, line_of(variant, "{x: 1}"), "");
}

// yaml-cpp keeps the first of two equal keys and says nothing: the parser
// refuses the second one instead.
TEST(ParseExperimentRefuses, DuplicateKey) {
  const std::string t = with("workload:\n", "repetitions: 5\nrepetitions: 20\nworkload:\n");
  expect_refused(t, line_of(t, "repetitions: 20"), "repetitions");
}

// --- the checked-in experiment files -------------------------------------

TEST(LoadExperiment, EveryCheckedInFileLoads) {
  const std::filesystem::path dir = std::filesystem::path(ENLIGHT_TEST_SOURCE_DIR) / "tools" / "ab";
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir))
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 5u) << dir;
  for (const auto& f : files) {
    SCOPED_TRACE(f.string());
    try {
      const Experiment e = load_experiment(f.string());
      EXPECT_EQ(e.file, f.string());
      EXPECT_FALSE(e.name.empty());
      EXPECT_GE(e.variants.size(), 2u);
      EXPECT_FALSE(e.figures.empty());
      EXPECT_TRUE(std::any_of(e.variants.begin(), e.variants.end(), [&](const Variant& v) { return v.name == e.baseline; }));
    } catch (const std::exception& ex) {
      ADD_FAILURE() << ex.what();
    }
  }
}

TEST(LoadExperiment, PathsAreRelativeToTheFilesDirectory) {
  const std::filesystem::path dir = std::filesystem::path(ENLIGHT_TEST_SOURCE_DIR) / "tools" / "ab";
  const Experiment e = load_experiment((dir / "linux.yaml").string());
  const auto k = std::find(e.workload_args.begin(), e.workload_args.end(), "--kernel");
  ASSERT_NE(k, e.workload_args.end());
  ASSERT_NE(k + 1, e.workload_args.end());
  EXPECT_EQ(*(k + 1), (dir / "l2" / "vmlinuz").lexically_normal().string());
}

TEST(LoadExperiment, MissingFileIsAConfigErrorNamingIt) {
  const std::string path = std::string(ENLIGHT_TEST_BINARY_DIR) + "/no/such/experiment.yaml";
  try {
    (void)load_experiment(path);
    FAIL() << "loaded a missing file";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("fix:"), std::string::npos) << e.what();
  }
}

}  // namespace

namespace {

// A mark and the run's length are times: dividing them by time means nothing.
TEST(ParseExperimentRefuses, PerSecondOnATime) {
  const std::string t = with("figures:\n", "figures:\n  - name: boot\n    mark: init\n    per_second: true\n");
  expect_refused(t, line_of(t, "    per_second: true"), "per_second");
}

}  // namespace
