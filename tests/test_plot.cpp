// test_plot.cpp — SVG pictures: well-formed XML whatever the labels hold, one series
// or cell per thing drawn, and `minicope plot`'s errors (a bad metrics line is named).
#include <doctest/doctest.h>

#include <map>
#include <regex>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "plot/svg.h"
#include "tests/cli_util.h"
#include "tests/xml_check.h"
#include "io/metrics_file.h"
#include "plot/report.h"

using namespace mc;
namespace fs = std::filesystem;

namespace {

fs::path fresh_dir(const std::string& name) { return empty_test_dir("plot_" + name); }
std::string read(const fs::path& p) { return file_text(p); }
void write(const fs::path& p, const std::string& text) { write_text(p, text); }

// A metrics.jsonl as the trainer writes it: training lines, and eval lines for splits.
std::string metrics_text(const std::vector<std::string>& splits, int evals, double scale) {
  std::ostringstream o;
  for (int e = 1; e <= evals; ++e) {
    for (int k = 0; k < 4; ++k) {
      const int step = (e - 1) * 100 + 25 * (k + 1);
      o << "{\"grad_norm\":1.0,\"loss\":" << scale / step << ",\"lr\":0.001,\"step\":" << step << ",\"tokens_per_s\":1000}\n";
    }
    for (const std::string& s : splits)
      o << "{\"error_rate\":" << 0.5 / e << ",\"examples\":20,\"loss\":" << 1.0 / e << ",\"split\":\"" << s
        << "\",\"step\":" << e * 100 << ",\"task\":\"flipflop\",\"token_error_rate\":" << 0.2 / e << "}\n";
  }
  return o.str();
}

}  // namespace

TEST_CASE("the checker itself rejects what a browser rejects") {
  CHECK(check_xml("<a><b class=\"x\"/>t &amp; u</a>").ok);
  CHECK(check_xml("<a><b class=\"x\"/></a>").classes["x"] == 1);
  CHECK_FALSE(check_xml("<a><b></a></b>").ok);        // crossed tags
  CHECK_FALSE(check_xml("<a>x & y</a>").ok);           // bare ampersand
  CHECK_FALSE(check_xml("<a t=\"<\"/>").ok);           // '<' in an attribute
  CHECK_FALSE(check_xml("<a t=\"1\" t=\"2\"/>").ok);   // an attribute twice
  CHECK_FALSE(check_xml("<a>\x01</a>").ok);            // a control character
  CHECK_FALSE(check_xml("<a>\xff</a>").ok);            // not UTF-8
  CHECK_FALSE(check_xml("<a/><b/>").ok);               // two roots
  CHECK_FALSE(check_xml("<a>").ok);                    // never closed
}

TEST_CASE("escape: XML specials, control characters and stray bytes become visible text") {
  CHECK(svg::escape("a<b>&\"'") == "a&lt;b&gt;&amp;&quot;&apos;");
  CHECK(svg::escape("\n\t\x01") == "\\n\\t\\x01");
  CHECK(svg::escape("\xC3\xA9") == "\xC3\xA9");               // é stays
  CHECK(svg::escape("\xE2\x90\xA3") == "\xE2\x90\xA3");       // ␣ stays
  CHECK(svg::escape("\xC3") == "\\xC3");                      // a cut sequence
  CHECK(svg::escape("\xED\xA0\x80") == "\\xED\\xA0\\x80");    // a UTF-16 surrogate
  CHECK(svg::escape("\xEF\xBF\xBF") == "\\xEF\\xBF\\xBF");    // U+FFFF is no XML character
  std::string every;
  for (int c = 0; c < 256; ++c) every += char(c);
  const XmlCheck x = check_xml("<t>" + svg::escape(every) + "</t>");
  CHECK_MESSAGE(x.ok, x.error);
}

TEST_CASE("line charts: one path per series, gaps for missing values, labels made safe") {
  svg::LineChart a{"loss", "step", "loss", {}, "auto", 1.0};
  a.series.push_back({"run <1>", {1, 2, 3, 4}, {1.0, 0.1, NAN, 0.001}});
  a.series.push_back({"run \"2\"\n", {1, 2}, {0.5, 0.4}});
  svg::LineChart b{"error", "step", "error (%)", {}, "off", 100.0};
  for (int k = 0; k < 12; ++k) b.series.push_back({std::to_string(k), {0, 10}, {0.5, 0.1 * k}});
  svg::LineChart empty{"nothing", "step", "y", {}, "auto", 1.0};
  const std::string doc = svg::line_charts("title & more", {a, b, empty});
  XmlCheck x = check_xml(doc);
  REQUIRE_MESSAGE(x.ok, x.error);
  CHECK(x.classes["series"] == 2 + 12);
  CHECK(x.classes["chart"] == 3);
  CHECK(x.classes["legend"] == 14);
  CHECK(x.classes["marker"] == 3 + 2 + 24);  // the NaN has no dot
  CHECK(doc.find("no data") != std::string::npos);
  CHECK(doc.find("(log scale)") != std::string::npos);  // 1 .. 0.001 spans 1000x
  // the gap: the path of the first series moves (M) again after the missing value
  const size_t p = doc.find("class=\"series\"");
  const size_t d = doc.find(" d=\"", p);
  const std::string path = doc.substr(d + 4, doc.find('"', d + 4) - d - 4);
  CHECK(std::count(path.begin(), path.end(), 'M') == 2);
}

TEST_CASE("heat maps: one cell per finite value, a colour bar each") {
  const int T = 7;
  svg::HeatMap m{"a[i,j]", {"a", "b", "c", "<&>", "\n", " ", "\xff"}, {}, std::vector<double>(T * T, NAN), 0, 1, "weight"};
  for (int i = 0; i < T; ++i) {
    for (int j = 0; j <= i; ++j) m.values[size_t(i * T + j)] = 1.0 / (i + 1);
  }
  m.col_labels = m.row_labels;
  svg::HeatMap p = m;
  p.value_name = "position";
  p.hi = 7;
  const std::string doc = svg::heat_maps("maps", {m, p});
  XmlCheck x = check_xml(doc);
  REQUIRE_MESSAGE(x.ok, x.error);
  CHECK(x.classes["cell"] == 2 * T * (T + 1) / 2);
  CHECK(x.classes["map"] == 2);
  CHECK(x.classes["row-label"] == 2 * T);
  CHECK(x.tags["linearGradient"] == 2);
}

TEST_CASE("read_metrics: training and eval lines; a resumed run's repeated step keeps the later line") {
  const fs::path d = fresh_dir("read");
  write(d / "metrics.jsonl", metrics_text({"valid", "test"}, 2, 1.0) +
                                 "\n{\"loss\":9.0,\"step\":50,\"lr\":0.1}\n");  // blank line, then a repeat of step 50
  const RunMetrics m = read_metrics(d.string());
  CHECK(m.task == "flipflop");
  CHECK(m.train.size() == 8);
  CHECK(m.train[1].step == 50);
  CHECK(m.train[1].loss == 9.0);
  REQUIRE(m.eval.count("test"));
  CHECK(m.eval.at("test").size() == 2);
  CHECK(m.eval.at("test")[1].error_rate == doctest::Approx(0.25));
  CHECK(std::isnan(m.train[0].error_rate));
}

TEST_CASE("read_metrics: a malformed line is named by its number") {
  const fs::path d = fresh_dir("bad");
  const std::string good = "{\"loss\":1.0,\"step\":1}\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"{\"loss\":1.0,\"step\":2\n", ":2: not valid JSON"},
      {"[1,2]\n", ":2: not a JSON object"},
      {"{\"loss\":1.0}\n", ":2: no \"step\" field"},
      {"{\"loss\":1.0,\"step\":-3}\n", ":2: \"step\" is not a whole number"},
      {"{\"loss\":1.0,\"step\":2.5}\n", ":2: \"step\" is not a whole number"},
      {"{\"loss\":\"low\",\"step\":2}\n", ":2: \"loss\" is not a number"},
      {"{\"step\":2}\n", ":2: no \"loss\" field"},
      {"{\"loss\":1,\"step\":2,\"split\":7}\n", ":2: \"split\" is not a name"},
  };
  for (const auto& [line, want] : cases) {
    write(d / "m.jsonl", good + line);
    std::string msg;
    try {
      read_metrics((d / "m.jsonl").string());
    } catch (const std::runtime_error& e) {
      msg = e.what();
    }
    CHECK_MESSAGE(msg.find((d / "m.jsonl").string() + want) == 0, line << " -> " << msg);
  }
  write(d / "empty.jsonl", "\n\n");
  CHECK_THROWS_WITH_AS(read_metrics((d / "empty.jsonl").string()), doctest::Contains("holds no metrics"), std::runtime_error);
  CHECK_THROWS_WITH_AS(read_metrics((d / "none.jsonl").string()), doctest::Contains("no such file"), std::runtime_error);
  CHECK_THROWS_WITH_AS(read_metrics(d.string()), doctest::Contains("metrics.jsonl: no such file"), std::runtime_error);
}

TEST_CASE("plot curves: series per run and split, labels, and one error line for bad input") {
  const fs::path d = fresh_dir("curves");
  fs::create_directories(d / "a");
  fs::create_directories(d / "b");
  write(d / "a" / "metrics.jsonl", metrics_text({"valid", "test", "sparse", "dense"}, 3, 1.0));
  write(d / "b" / "metrics.jsonl", metrics_text({"valid", "test", "sparse", "dense"}, 3, 2.0));
  const std::string svg = (d / "c.svg").string();
  CliRun r = cli({"plot", "curves", (d / "a").string(), (d / "b" / "metrics.jsonl").string(), "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  XmlCheck x = check_xml(read(svg));
  REQUIRE_MESSAGE(x.ok, x.error);
  CHECK(x.classes["series"] == 2 + 2 * 3);  // training loss per run; test, sparse, dense per run
  CHECK(read(svg).find(">a sparse</text>") != std::string::npos);

  r = cli({"plot", "curves", (d / "a").string(), (d / "b").string(), "--split", "sparse", "--labels", "abs,cope", "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  x = check_xml(read(svg));
  CHECK(x.classes["series"] == 2 + 2);
  CHECK(read(svg).find(">cope</text>") != std::string::npos);

  // errors: one line each, and the picture already there is left as it was
  const std::string before = read(svg);
  write(d / "bad.jsonl", "{\"loss\":1.0,\"step\":1}\n{\"loss\":1.0,\"step\":2}\n{\"loss\":oops}\n");
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"plot", "curves", (d / "bad.jsonl").string(), "--out", svg}, "bad.jsonl:3: not valid JSON"},
      {{"plot", "curves", (d / "a").string(), "--split", "nope", "--out", svg}, "--split nope"},
      {{"plot", "curves", (d / "a").string(), "--labels", "x,y", "--out", svg}, "--labels has 2 names for 1 runs"},
      {{"plot", "curves", (d / "a").string(), "--metric", "speed", "--out", svg}, "--metric must be"},
      {{"plot", "curves", (d / "a").string()}, "--out FILE.svg is required"},
      {{"plot", "curves", "--out", svg}, "needs one or more runs"},
      {{"plot", "curves", (d / "a").string(), "--out", d.string()}, "is a folder"},
      {{"plot", "pictures", "--out", svg}, "not 'pictures'"},
      {{"plot", "curves", (d / "a").string(), "--ckpt", "x", "--out", svg}, "--ckpt applies to plot attention"},
  };
  expect_one_line_errors(bad);
  CHECK(read(svg) == before);
  CHECK_FALSE(fs::exists(svg + ".tmp"));
}

TEST_CASE("plot attention: a CoPE layer draws weights and positions, tokens on the axes") {
  const fs::path d = fresh_dir("attention");
  const std::string run = (d / "run").string();
  CliRun r = cli({"train", "--out", run, "--length", "12", "--layers", "2", "--dim", "16", "--heads", "2", "--batch", "4",
                  "--steps", "3", "--eval-size", "4", "--threads", "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  const std::string svg = (d / "att.svg").string();
  r = cli({"plot", "attention", "--ckpt", run, "--split", "dense", "--example", "2", "--layer", "1", "--head", "1", "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  XmlCheck x = check_xml(read(svg));
  REQUIRE_MESSAGE(x.ok, x.error);
  const int T = 11;  // the model reads all but the last of 12 tokens
  CHECK(x.classes["map"] == 2);
  CHECK(x.classes["cell"] == 2 * T * (T + 1) / 2);

  r = cli({"plot", "attention", "--ckpt", run, "--text", "w 1 i 0 r", "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  x = check_xml(read(svg));
  CHECK(x.classes["cell"] == 2 * 5 * 6 / 2);
  CHECK(x.classes["row-label"] == 2 * 5);
  {  // the gates it prints are the steps of the positions it drew (the cells' titles)
    const std::string text = read(svg);
    std::map<std::pair<int, int>, double> pos;
    const std::regex cell(R"(<title>\S+ \((\d+)\) to \S+ \((\d+)\): position ([-0-9.e]+)</title>)");
    for (auto m = std::sregex_iterator(text.begin(), text.end(), cell); m != std::sregex_iterator(); ++m)
      pos[{std::stoi((*m)[1]), std::stoi((*m)[2])}] = std::stod((*m)[3]);
    REQUIRE(pos.size() == 15);
    const std::vector<std::string> tokens = {"w", "1", "i", "0", "r"};
    std::map<std::string, std::pair<double, int>> want;
    for (int i = 0; i < 5; ++i)
      for (int j = 0; j <= i; ++j) {
        auto& [sum, n] = want[tokens[size_t(j)]];
        sum += pos[{i, j}] - (j < i ? pos[{i, j + 1}] : 0.0), n += 1;  // no position of 5 tokens reaches npos - 1 = 12
      }
    INFO(r.out);
    std::map<std::string, std::pair<double, int>> got;  // "'tok' mean (count)", the titles' 4 digits apart
    const std::regex gate(R"('(\S+)' ([0-9.]+) \((\d+)\))");
    for (auto m = std::sregex_iterator(r.out.begin(), r.out.end(), gate); m != std::sregex_iterator(); ++m)
      got[(*m)[1]] = {std::stod((*m)[2]), std::stoi((*m)[3])};
    REQUIRE(got.size() == want.size());
    for (const auto& [tok, sn] : want) {
      CAPTURE(tok);
      CHECK(got[tok].second == sn.second);
      CHECK(std::fabs(got[tok].first - sn.first / sn.second) < 2e-3);
    }
  }

  {  // a window of queries x keys draws the same cells as the whole map, at the same indices
    std::map<int, std::string> key_label;  // j -> its token
    const auto cells_of = [&](const std::string& text) {
      std::map<std::tuple<std::string, int, int>, std::string> cells;  // (what, i, j) -> value
      const std::regex cell(R"(<title>\S+ \((\d+)\) to (\S+) \((\d+)\): (\w+) (\S+)</title>)");
      for (auto m = std::sregex_iterator(text.begin(), text.end(), cell); m != std::sregex_iterator(); ++m) {
        cells[{(*m)[4], std::stoi((*m)[1]), std::stoi((*m)[3])}] = (*m)[5];
        key_label[std::stoi((*m)[3])] = (*m)[2];
      }
      return cells;
    };
    r = cli({"plot", "attention", "--ckpt", run, "--split", "dense", "--example", "2", "--out", svg});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    const auto whole = cells_of(read(svg));
    r = cli({"plot", "attention", "--ckpt", run, "--split", "dense", "--example", "2", "--queries", "5:9", "--keys", "2:7",
             "--out", svg});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.out.find("queries 5:9 x keys 2:7") != std::string::npos);
    const auto window = cells_of(read(svg));
    int want = 0;  // rows 5..8, columns 2..6 on or below the diagonal
    for (int i = 5; i < 9; ++i)
      for (int j = 2; j < 7 && j <= i; ++j) {
        for (const char* what : {"weight", "position"}) {
          CAPTURE(i);
          CAPTURE(j);
          CAPTURE(what);
          REQUIRE(window.count({what, i, j}));
          CHECK(window.at({what, i, j}) == whole.at({what, i, j}));
        }
        ++want;
      }
    CHECK(window.size() == size_t(2 * want));
    {  // the gates it prints are those of the window's queries and keys only
      std::map<std::string, std::pair<double, int>> want_gates;
      const auto pos = [&](int i, int j) { return std::stod(whole.at({"position", i, j})); };
      for (int i = 5; i < 9; ++i)
        for (int j = 2; j < 7 && j <= i; ++j) {
          auto& [sum, n] = want_gates[key_label.at(j)];
          sum += pos(i, j) - (j < i ? pos(i, j + 1) : 0.0), n += 1;
        }
      const std::regex gate(R"('(\S+)' ([0-9.]+) \((\d+)\))");
      int seen = 0;
      for (auto m = std::sregex_iterator(r.out.begin(), r.out.end(), gate); m != std::sregex_iterator(); ++m, ++seen) {
        CAPTURE(r.out);
        REQUIRE(want_gates.count((*m)[1]));
        const auto [sum, n] = want_gates.at((*m)[1]);
        CHECK(std::stoi((*m)[3]) == n);
        CHECK(std::fabs(std::stod((*m)[2]) - sum / n) < 2e-3);
      }
      CHECK(seen == int(want_gates.size()));
    }
    // an input longer than a map: a window of it is drawn, the whole is refused
    std::string long_text = "w 1";
    for (int k = 0; k < 149; ++k) long_text += k % 7 ? " i 0" : " w 1";  // 300 tokens
    r = cli({"plot", "attention", "--ckpt", run, "--text", long_text, "--queries", "250:260", "--keys", "200:", "--out", svg});
    REQUIRE_MESSAGE(r.code == 0, r.err);
    CHECK(r.out.find("over 300 tokens") != std::string::npos);
    CHECK(check_xml(read(svg)).classes["cell"] == 2 * (51 + 60) * 10 / 2);  // row i: keys 200..i
    expect_one_line_errors({
        {{"plot", "attention", "--ckpt", run, "--text", long_text, "--out", svg}, "a map draws at most 256"},
        {{"plot", "attention", "--ckpt", run, "--text", long_text, "--queries", "0:10", "--out", svg},
         "the map would draw 300 keys"},
    });
  }

  const std::string before = read(svg);
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad = {
      {{"plot", "attention", "--ckpt", run, "--queries", "5", "--out", svg}, "--queries expects FROM:TO"},
      {{"plot", "attention", "--ckpt", run, "--keys", "a:3", "--out", svg}, "--keys expects FROM:TO"},
      {{"plot", "attention", "--ckpt", run, "--queries", "1:2:3", "--out", svg}, "--queries expects FROM:TO"},
      {{"plot", "attention", "--ckpt", run, "--queries", "9:5", "--out", svg}, "choose FROM < TO"},
      {{"plot", "attention", "--ckpt", run, "--keys", "0:12", "--out", svg}, "the input has tokens 0:11"},
      {{"plot", "curves", run, "--keys", "0:3", "--out", svg}, "--keys applies to plot attention"},
      {{"plot", "attention", "--ckpt", run, "--layer", "2", "--out", svg}, "--layer must be between 0 and 1"},
      {{"plot", "attention", "--ckpt", run, "--head", "x", "--out", svg}, "--head expects an integer"},
      {{"plot", "attention", "--ckpt", run, "--text", "w 1 q", "--out", svg}, "'q' is not a token of flipflop"},
      {{"plot", "attention", "--ckpt", run, "--text", "", "--out", svg}, "no tokens"},
      {{"plot", "attention", "--ckpt", run, "--split", "far", "--out", svg}, "has no split 'far'"},
      {{"plot", "attention", "--ckpt", run, "--example", "4", "--out", svg}, "split test has 4 examples"},
      {{"plot", "attention", "--out", svg}, "--ckpt DIR is required"},
      {{"plot", "attention", "--ckpt", (d / "none").string(), "--out", svg}, "none"},
      {{"plot", "attention", "--ckpt", run, "--labels", "a", "--out", svg}, "--labels applies to plot curves"},
  };
  expect_one_line_errors(bad);
  CHECK(read(svg) == before);

  // a layer without CoPE draws the weights only
  const std::string abs_run = (d / "abs").string();
  r = cli({"train", "--out", abs_run, "--pe", "abs", "--length", "12", "--layers", "1", "--dim", "16", "--heads", "2",
           "--batch", "4", "--steps", "2", "--eval-size", "4", "--threads", "1"});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  r = cli({"plot", "attention", "--ckpt", abs_run, "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  x = check_xml(read(svg));
  CHECK(x.classes["map"] == 1);
  CHECK(x.classes["cell"] == T * (T + 1) / 2);
}

TEST_CASE("plot lengths: a chart per variable count, a series per encoding and the shortcut") {
  const fs::path d = fresh_dir("lengths");
  const auto run = [&](const std::string& name, const std::string& pe, int vars, int steps, double err) {
    fs::create_directories(d / name);
    write(d / name / "config.json", "{\"task\":\"counting\",\"pe\":\"" + pe + "\",\"vars\":" + std::to_string(vars) +
                                        ",\"max-steps\":" + std::to_string(steps) + ",\"data\":\"\"}");
    write(d / name / "result.jsonl", "{\"error_rate\":" + std::to_string(err) + ",\"shortcut_error_rate\":0.3," +
                                         "\"binding_error_rate\":" + std::to_string(2 * err) +
                                         ",\"loss\":0.2,\"split\":\"test\",\"step\":5,\"task\":\"counting\"}\n");
  };
  for (int steps : {128, 256}) {
    run("cope-s1-" + std::to_string(steps), "cope", 3, steps, 0.1);
    run("cope-s2-" + std::to_string(steps), "cope", 3, steps, 0.2);
    run("abs-" + std::to_string(steps), "abs", 3, steps, 0.3);
  }
  run("abs-5vars", "abs", 5, 128, 0.4);
  const std::string svg = (d / "len.svg").string();
  CliRun r = cli({"plot", "lengths", d.string(), "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  XmlCheck x = check_xml(read(svg));
  REQUIRE_MESSAGE(x.ok, x.error);
  // 3 variables: abs, cope, each with its binding series, and the shortcut; 5: abs (2), shortcut
  CHECK(x.classes["series"] == 5 + 3);
  CHECK(r.out.find("8 series in 2 charts") != std::string::npos);
  CHECK(read(svg).find(">cope binding</text>") != std::string::npos);
  CHECK(read(svg).find(">shortcut (no model)</text>") != std::string::npos);
  const auto cells = counting_by_length(d, {"abs", "cope"});
  REQUIRE(cells.size() == 5);
  CHECK(cells[0].pe == "abs");
  CHECK(cells[2].pe == "cope");
  CHECK(cells[2].max_steps == 128);
  CHECK(cells[2].error.size() == 2);  // two seeds in one cell
  CHECK(cells[4].vars == 5);

  const fs::path empty = fresh_dir("lengths_none");
  fs::create_directories(empty / "ff");
  write(empty / "ff" / "config.json", "{\"task\":\"flipflop\",\"pe\":\"abs\"}");
  write(empty / "ff" / "result.jsonl", "{\"error_rate\":0.1,\"loss\":0.2,\"split\":\"test\",\"step\":5}\n");
  expect_one_line_errors({
      {{"plot", "lengths", empty.string(), "--out", svg}, "holds no finished counting runs"},
      {{"plot", "lengths", d.string(), empty.string(), "--out", svg}, "needs one folder of runs"},
      {{"plot", "lengths", d.string(), "--metric", "loss", "--out", svg}, "--metric applies to plot curves"},
  });
}

TEST_CASE("plot contexts: a chart per corpus, a series per encoding and training context, seeds averaged") {
  const fs::path d = fresh_dir("contexts");
  // a text run: its validation loss at 1x (result.jsonl) and, unless abs, at 2x and 4x
  const auto run = [&](const std::string& name, const std::string& data, const std::string& pe, int seq, double loss) {
    fs::create_directories(d / name);
    write(d / name / "config.json", "{\"task\":\"text\",\"pe\":\"" + pe + "\",\"data\":\"/x/" + data +
                                        "\",\"seq\":" + std::to_string(seq) + "}");
    const auto line = [&](double l) {
      return "{\"loss\":" + std::to_string(l) + ",\"split\":\"valid\",\"step\":5,\"task\":\"text\"}\n";
    };
    write(d / name / "result.jsonl", line(loss));
    if (pe == "abs") return;
    write(d / name / "eval-2x.jsonl", line(loss + 0.5));
    write(d / name / "eval-4x.jsonl", line(loss + 1.0));
  };
  run("a-cope-s1", "a.txt", "cope", 64, std::log(4.0));
  run("a-cope-s2", "a.txt", "cope", 64, std::log(6.0));  // mean perplexity at 1x: 5
  run("a-abs-s1", "a.txt", "abs", 64, std::log(7.0));
  run("a-cope-128", "a.txt", "cope", 128, std::log(3.0));
  run("b-rel-s1", "b.txt", "rel", 32, std::log(2.0));
  // an evaluation still being written (reproduce.sh renames eval-Nx.tmp when it is done) is not read
  write(d / "b-rel-s1" / "eval-8x.tmp", "{\"loss\":");
  write(d / "b-rel-s1" / "eval-8x.jsonl.part", "");
  // runs of other tasks, and unfinished runs, are not drawn
  fs::create_directories(d / "ff");
  write(d / "ff" / "config.json", "{\"task\":\"flipflop\",\"pe\":\"abs\"}");
  write(d / "ff" / "result.jsonl", "{\"error_rate\":0.1,\"loss\":0.2,\"split\":\"test\",\"step\":5}\n");
  fs::create_directories(d / "unfinished");
  write(d / "unfinished" / "config.json", "{\"task\":\"text\",\"pe\":\"rope\",\"data\":\"/x/a.txt\",\"seq\":64}");

  const auto cells = text_by_context(d, {"abs", "rel", "cope"});
  REQUIRE(cells.size() == 4);
  CHECK(cells[0].data == "a.txt");
  CHECK(cells[0].seq == 64);
  CHECK(cells[0].pe == "abs");
  CHECK(cells[0].loss_at.size() == 1);  // abs: 1x only
  CHECK(cells[1].pe == "cope");
  REQUIRE(cells[1].loss_at.at(2).size() == 2);  // two seeds in one cell
  CHECK(cells[2].seq == 128);
  CHECK(cells[3].data == "b.txt");
  CHECK(cells[3].loss_at.size() == 3);  // 1x, 2x, 4x: not the unfinished 8x

  const std::string svg = (d / "ctx.svg").string();
  CliRun r = cli({"plot", "contexts", d.string(), "--out", svg});
  REQUIRE_MESSAGE(r.code == 0, r.err);
  XmlCheck x = check_xml(read(svg));
  REQUIRE_MESSAGE(x.ok, x.error);
  CHECK(x.classes["series"] == 4);
  CHECK(r.out.find("4 series in 2 charts") != std::string::npos);
  // a corpus trained at two contexts names them; one trained at one context does not
  CHECK(read(svg).find(">cope, trained at 128</text>") != std::string::npos);
  CHECK(read(svg).find(">rel</text>") != std::string::npos);
  // the printed values: perplexity averaged over seeds at each context
  CHECK(r.out.find("a.txt, trained at 64, cope: 64 -> 5.000 128 -> ") != std::string::npos);
  CHECK(r.out.find("(perplexity, mean of 2 seeds)") != std::string::npos);
  const double at2x = (4.0 + 6.0) * std::exp(0.5) / 2;  // the mean of each seed's perplexity
  char want[64];
  std::snprintf(want, sizeof want, "128 -> %.3f", at2x);
  CHECK(r.out.find(want) != std::string::npos);
  CHECK(r.out.find("a.txt, trained at 64, abs: 64 -> 7.000 (perplexity, mean of 1 seed)") != std::string::npos);

  const fs::path none = fresh_dir("contexts_none");
  fs::create_directories(none / "ff");
  write(none / "ff" / "config.json", "{\"task\":\"flipflop\",\"pe\":\"abs\"}");
  write(none / "ff" / "result.jsonl", "{\"error_rate\":0.1,\"loss\":0.2,\"split\":\"test\",\"step\":5}\n");
  expect_one_line_errors({
      {{"plot", "contexts", none.string(), "--out", svg}, "holds no finished text runs"},
      {{"plot", "contexts", d.string(), none.string(), "--out", svg}, "needs one folder of runs"},
      {{"plot", "contexts", d.string(), "--split", "test", "--out", svg}, "--split applies to plot curves"},
      {{"plot", "contexts", (d / "missing").string(), "--out", svg}, "no such folder"},
  });
}
