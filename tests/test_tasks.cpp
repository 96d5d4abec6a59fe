// test_tasks.cpp — every generator obeys its task's rules, checked by an independent
// checker written here from the task's description (not from the generator's code);
// batches, padded and packed.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <tuple>

#include "tasks/counting.h"
#include "tasks/task.h"

using namespace mc;

namespace {

std::vector<std::string> words_of(const Task& t, const Example& e) {
  std::vector<std::string> w;
  for (int64_t id : e.tokens) w.push_back(t.vocab().at(size_t(id)));
  return w;
}

// Flip-Flop: pairs of instruction and bit; w first, r last; r repeats the latest w's bit.
// Returns the fraction of ignore instructions among the middle ones.
void check_flipflop(const Task& t, const Example& e, int64_t length, int64_t& ignores, int64_t& middles) {
  const auto w = words_of(t, e);
  REQUIRE(int64_t(w.size()) == length);
  REQUIRE(e.scored.size() == w.size() - 1);
  CHECK(w.front() == "w");
  CHECK(w[w.size() - 2] == "r");
  std::string memory;
  for (size_t k = 0; k < w.size(); k += 2) {
    const std::string& op = w[k];
    const std::string& bit = w[k + 1];
    REQUIRE((op == "w" || op == "r" || op == "i"));
    REQUIRE((bit == "0" || bit == "1"));
    if (op == "w") memory = bit;
    if (op == "r") CHECK(bit == memory);
    if (k > 0 && k + 2 < w.size()) {
      ++middles;
      ignores += op == "i";
    }
    CHECK(e.scored[k] == (op == "r" ? 1 : 0));  // the instruction predicts the bit
    if (k + 1 < e.scored.size()) CHECK(e.scored[k + 1] == 0);
  }
}

}  // namespace

TEST_CASE("flipflop: the rules hold over thousands of sequences, at each split's p_i") {
  TaskOptions o;
  o.name = "flipflop";
  o.length = 32;
  o.eval_size = 2000;
  auto task = make_task(o);
  CHECK(task->context() == 31);
  Generator g(5);
  int64_t ig = 0, mid = 0;
  for (int n = 0; n < 3000; ++n) check_flipflop(*task, task->sample(g), 32, ig, mid);
  CHECK(double(ig) / double(mid) == doctest::Approx(0.8).epsilon(0.02));
  for (auto [split, p] : {std::pair{"test", 0.8}, {"sparse", 0.98}, {"dense", 0.1}}) {
    int64_t i2 = 0, m2 = 0;
    for (const Example& e : task->eval_set(split)) check_flipflop(*task, e, 32, i2, m2);
    INFO(split);
    CHECK(double(i2) / double(m2) == doctest::Approx(p).epsilon(0.03));
  }
  // fixed evaluation sets: the same every time
  CHECK(task->eval_set("test")[7].tokens == make_task(o)->eval_set("test")[7].tokens);
  CHECK_THROWS_AS(task->eval_set("nope"), std::invalid_argument);
}

TEST_CASE("selcopy: data tokens among noise, a separator, then the data in order") {
  TaskOptions o;
  o.name = "selcopy";
  o.data_tokens = 5;
  o.noise_tokens = 20;
  o.eval_size = 1000;
  auto task = make_task(o);
  auto check = [&](const Example& e, int64_t noise) {
    const auto w = words_of(*task, e);
    REQUIRE(int64_t(w.size()) == 5 + noise + 1 + 5);
    std::vector<std::string> data;
    for (int64_t i = 0; i < 5 + noise; ++i) {
      REQUIRE(w[size_t(i)] != "|");
      if (w[size_t(i)] != ".") data.push_back(w[size_t(i)]);
    }
    REQUIRE(data.size() == 5);
    CHECK(w[size_t(5 + noise)] == "|");
    for (int64_t i = 0; i < 5; ++i) CHECK(w[size_t(5 + noise + 1 + i)] == data[size_t(i)]);
    for (size_t t = 0; t < e.scored.size(); ++t) CHECK(e.scored[t] == (int64_t(t) >= 5 + noise ? 1 : 0));
  };
  Generator g(3);
  for (int n = 0; n < 2000; ++n) check(task->sample(g), 20);
  for (const Example& e : task->eval_set("test")) check(e, 20);
  for (const Example& e : task->eval_set("dense")) check(e, 10);
  for (const Example& e : task->eval_set("sparse")) check(e, 40);
  CHECK(task->context() == 5 + 40 + 1 + 5 - 1);
}

TEST_CASE("counting: a program, 'print x', and its value") {
  TaskOptions o;
  o.name = "counting";
  o.vars = 3;
  o.max_steps = 12;
  o.eval_size = 1000;
  auto task = make_task(o);
  int64_t pass = 0, inc = 0, set = 0;
  auto check = [&](const Example& e) {
    const auto w = words_of(*task, e);
    // interpret the program with our own reading of the rules
    std::map<std::string, int> vars;
    size_t i = 0;
    int statements = 0;
    while (i < w.size() && w[i] != "print") {
      ++statements;
      if (w[i] == "pass;") {
        ++pass, i += 1;
      } else if (i + 1 < w.size() && w[i + 1] == "++;") {
        REQUIRE(vars.count(w[i]));  // only a variable already set
        CHECK(++vars[w[i]] <= 10);
        ++inc, i += 2;
      } else {
        REQUIRE(i + 3 < w.size());
        CHECK(w[i + 1] == "=");
        CHECK(w[i + 2] == "0");
        CHECK(w[i + 3] == ";");
        CHECK((w[i] == "a" || w[i] == "b" || w[i] == "c"));
        vars[w[i]] = 0;
        ++set, i += 4;
      }
    }
    CHECK(statements >= 3);
    CHECK(statements <= 12);
    REQUIRE(i + 3 == w.size());
    REQUIRE(vars.count(w[i + 1]));
    CHECK(w[i + 2] == std::to_string(vars[w[i + 1]]));
    for (size_t t = 0; t < e.scored.size(); ++t) CHECK(e.scored[t] == (t == e.scored.size() - 1 ? 1 : 0));
  };
  Generator g(9);
  for (int n = 0; n < 3000; ++n) check(task->sample(g));
  for (const Example& e : task->eval_set("valid")) check(e);
  // the statement weights 50 : 7 : 1 show in the share of "pass;" (an increment before any
  // set is redrawn, and programs without a set are dropped, so the others are skewed)
  CHECK(double(pass) / double(pass + inc + set) > 0.75);
  CHECK(inc > 0);
  CHECK(task->eval_set("test")[0].tokens != task->eval_set("valid")[0].tokens);
}

TEST_CASE("counting reads the official generator's JSONL files") {
  TaskOptions o;
  o.name = "counting";
  o.data = std::string(MINICOPE_SOURCE_DIR) + "/tests/data/counting_official";
  auto task = make_task(o);
  CHECK(task->eval_set("valid").size() == 1);
  CHECK(task->eval_set("test").size() == 2);
  CHECK(task->describe(task->eval_set("test")[1]) == "c = 0 ; c ++; c ++; print c 2");
  Generator g(1);
  const Example e = task->sample(g);
  CHECK(e.scored.back() == 1);
  // the longest example, "b = 0 ; a = 0 ; b ++; b ++; pass; a ++; print b 2", is 18 words
  CHECK(task->context() == 17);
}

TEST_CASE("counting: the variable-blind shortcut, on programs worked by hand") {
  const auto dir = std::filesystem::temp_directory_path() / "minicope_shortcut_test";
  std::filesystem::create_directories(dir);
  // context, question, answer, and whether counting every ++ after the last "=" gets it
  const std::vector<std::tuple<std::string, std::string, std::string, int>> programs = {
      {"a = 0 ; a ++; a ++;", "print a", "2", 1},
      {"a = 0 ; b = 0 ; a ++; b ++;", "print a", "1", 0},            // counts b's ++ too: 2
      {"a = 0 ; a ++; b = 0 ; a ++;", "print a", "2", 0},            // starts again at b = 0: 1
      {"b = 0 ; pass; a = 0 ; a ++; pass;", "print a", "1", 1},
      {"a = 0 ; a ++; a ++; a ++; b = 0 ;", "print b", "0", 1},
      {"b = 0 ; b ++; a = 0 ; pass; pass;", "print b", "1", 0},      // nothing after a = 0: 0
  };
  std::ofstream test(dir / "test.jsonl");
  for (const auto& [context, question, answer, right] : programs)
    test << R"({"context": ")" << context << R"(", "question": ")" << question << R"(", "answer": ")" << answer << "\"}\n";
  test.close();
  std::filesystem::copy_file(dir / "test.jsonl", dir / "train.jsonl", std::filesystem::copy_options::overwrite_existing);
  std::filesystem::copy_file(dir / "test.jsonl", dir / "valid.jsonl", std::filesystem::copy_options::overwrite_existing);
  TaskOptions o;
  o.name = "counting";
  o.data = dir.string();
  const auto task = make_task(o);
  const std::vector<Example> set = task->eval_set("test");
  REQUIRE(set.size() == programs.size());
  for (size_t i = 0; i < set.size(); ++i) {
    INFO(std::get<0>(programs[i]));
    CHECK(int(set[i].shortcut_right) == std::get<3>(programs[i]));
  }
  CHECK_FALSE(task->shortcut().empty());
  // generated programs have it too, and the other tasks have none
  o.data.clear();
  for (const Example& e : make_task(o)->eval_set("valid")) CHECK(e.shortcut_right >= 0);
  o.name = "flipflop";
  CHECK(make_task(o)->eval_set("test")[0].shortcut_right == -1);
  CHECK(make_task(o)->shortcut().empty());
}

TEST_CASE("counting --cut-left keeps the end of a long program, its question and its answer") {
  TaskOptions o;
  o.name = "counting";
  o.data = std::string(MINICOPE_SOURCE_DIR) + "/tests/data/counting_official";
  const Example whole = make_task(o)->eval_set("test")[1];  // c = 0 ; c ++; c ++; print c 2 (9 tokens)
  o.cut_left = true;
  o.context = 5;
  const auto task = make_task(o);
  CHECK(task->context() == 5);
  const Example cut = task->eval_set("test")[1];
  CHECK(task->describe(cut) == "++; c ++; print c 2");
  REQUIRE(cut.tokens.size() == 6);
  CHECK(std::equal(cut.tokens.begin(), cut.tokens.end(), whole.tokens.end() - 6));
  CHECK(cut.scored == std::vector<uint8_t>{0, 0, 0, 0, 1});  // only the answer is scored
  CHECK(cut.shortcut_right == 1);  // no "=" left: every ++ in the window counts
  for (const Example& e : task->eval_set("valid")) CHECK(e.tokens.size() <= 6);
  // short programs are kept whole
  o.context = 100;
  CHECK(make_task(o)->eval_set("test")[1].tokens == whole.tokens);
  // generated programs too; a context too short for the question and answer is refused
  o.data.clear();
  o.max_steps = 64;
  o.context = 40;
  Generator g(3);
  const auto generated = make_task(o);
  for (int n = 0; n < 50; ++n) CHECK(generated->sample(g).tokens.size() <= 41);
  o.context = 3;
  CHECK_THROWS_WITH(make_task(o), doctest::Contains("--cut-left needs --seq of at least 4"));
}

TEST_CASE("bad JSONL lines are reported with file and line") {
  const auto dir = std::filesystem::temp_directory_path() / "minicope_jsonl_test";
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& text) {
    std::ofstream(dir / "bad.jsonl") << text;
    return (dir / "bad.jsonl").string();
  };
  const std::string good = R"({"context": "a = 0 ;", "question": "print a", "answer": "0"})";
  CHECK_THROWS_WITH(read_counting_jsonl(write(good + "\n{not json\n")), doctest::Contains("bad.jsonl:2: not valid JSON"));
  CHECK_THROWS_WITH(read_counting_jsonl(write(good + "\n" + good + "\n{\"context\": 3}\n")),
                    doctest::Contains("bad.jsonl:3: expected an object with string fields"));
  CHECK_THROWS_WITH(read_counting_jsonl(write("[1,2]\n")), doctest::Contains("bad.jsonl:1:"));
  CHECK_THROWS_WITH(read_counting_jsonl((dir / "missing.jsonl").string()), doctest::Contains("cannot be read"));
  CHECK_THROWS_WITH(read_counting_jsonl(dir.string()), doctest::Contains("is a folder"));
  TaskOptions o;
  o.name = "counting";
  o.data = (dir / "nowhere").string();
  CHECK_THROWS_WITH(make_task(o), doctest::Contains("not a folder"));
}

TEST_CASE("make_batch shifts by one and pads unscored") {
  Example a{{1, 2, 3}, {0, 1}}, b{{4, 5}, {1}};
  const TokenBatch t = make_batch(std::vector<Example>{a, b});
  CHECK(t.inputs.shape() == Shape{2, 2});
  CHECK(t.inputs.to_vector() == std::vector<double>{1, 2, 4, 0});
  CHECK(t.targets.to_vector() == std::vector<double>{2, 3, 5, 0});
  CHECK(t.mask.to_vector() == std::vector<double>{0, 1, 1, 0});
}

namespace {
// An example of n inputs (n + 1 tokens 1, 2, ...), its last prediction scored.
Example example_of(int64_t n, int64_t first = 1) {
  Example e;
  for (int64_t t = 0; t <= n; ++t) e.tokens.push_back(first + t);
  e.scored.assign(size_t(n), 0);
  e.scored.back() = 1;
  return e;
}
}  // namespace

TEST_CASE("pack_batch: first fit in order, starts restart at each example, the tail is its own") {
  // inputs of 3, 4, 2, 5 and 1 in rows of 6: row 0 takes 3 then 2 then 1, row 1 takes 4,
  // row 2 takes 5.
  const std::vector<Example> xs = {example_of(3, 10), example_of(4, 20), example_of(2, 30), example_of(5, 40),
                                   example_of(1, 50)};
  const TokenBatch b = pack_batch(xs, 6);
  REQUIRE(b.inputs.shape() == Shape{3, 6});
  CHECK(b.inputs.to_vector() == std::vector<double>{10, 11, 12, 30, 31, 50,  //
                                                    20, 21, 22, 23, 0, 0,    //
                                                    40, 41, 42, 43, 44, 0});
  CHECK(b.targets.to_vector() == std::vector<double>{11, 12, 13, 31, 32, 51,  //
                                                     21, 22, 23, 24, 0, 0,    //
                                                     41, 42, 43, 44, 45, 0});
  CHECK(b.mask.to_vector() == std::vector<double>{0, 0, 1, 0, 1, 1,  //
                                                  0, 0, 0, 1, 0, 0,  //
                                                  0, 0, 0, 0, 1, 0});
  CHECK(b.starts.to_vector() == std::vector<double>{0, 0, 0, 3, 3, 5,  //
                                                    0, 0, 0, 0, 4, 4,  //
                                                    0, 0, 0, 0, 0, 5});
  const std::vector<std::tuple<int64_t, int64_t, int64_t>> want = {{0, 0, 3}, {1, 0, 4}, {0, 3, 2}, {2, 0, 5}, {0, 5, 1}};
  REQUIRE(b.places.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i)
    CHECK(std::tuple(b.places[i].row, b.places[i].offset, b.places[i].length) == want[i]);
  CHECK(b.real_tokens() == 15);
  CHECK(b.padding_fraction() == doctest::Approx(3.0 / 18));
  // every row's starts: a step function, each step at the column it names
  const std::vector<double> s = b.starts.to_vector();
  for (int64_t r = 0; r < 3; ++r)
    for (int64_t t = 1; t < 6; ++t) {
      const double now = s[size_t(r * 6 + t)], before = s[size_t(r * 6 + t - 1)];
      CHECK((now == before || now == double(t)));
    }
}

TEST_CASE("pack_batch refuses an example longer than the row; make_batch places one example per row") {
  const std::vector<Example> xs = {example_of(3), example_of(7)};
  CHECK_THROWS_WITH_AS(pack_batch(xs, 6), "pack_batch: an example of 7 inputs exceeds the length 6", std::invalid_argument);
  const TokenBatch p = make_batch(xs);
  CHECK_FALSE(p.starts.defined());
  REQUIRE(p.places.size() == 2);
  CHECK((p.places[1].row == 1 && p.places[1].offset == 0 && p.places[1].length == 7));
  CHECK(p.padding_fraction() == doctest::Approx(4.0 / 14));
}

TEST_CASE("smallest_batch packs uneven examples and pads those of one length") {
  const std::vector<Example> uneven = {example_of(2), example_of(9), example_of(3), example_of(4)};
  const TokenBatch a = smallest_batch(uneven, 10);  // padded: 4 x 9 = 36 slots; packed: 2 x 10 = 20
  CHECK(a.starts.defined());
  CHECK(a.inputs.shape() == Shape{2, 10});
  const std::vector<Example> even = {example_of(4), example_of(4), example_of(4)};
  const TokenBatch b = smallest_batch(even, 10);  // padded: 12 slots; packed: 2 x 10 = 20
  CHECK_FALSE(b.starts.defined());
  CHECK(b.inputs.shape() == Shape{3, 4});
  const std::vector<int64_t> lengths = {2, 9, 3, 4};
  const Task::BatchShape s = smallest_shape(lengths, 10);
  CHECK((s.packed && s.rows == 2 && s.length == 10));
}

TEST_CASE("Counting's batch shape: packed rows of the context, far fewer than the batch") {
  TaskOptions o;
  o.name = "counting";
  o.max_steps = 64;
  const auto task = make_task(o);
  const Task::BatchShape s = task->batch_shape(32, task->context());
  CHECK(s.packed);
  CHECK(s.varies);
  CHECK(s.length == task->context());
  CHECK(s.rows < 32);
  Generator g(7);
  std::vector<Example> xs;
  for (int i = 0; i < 32; ++i) xs.push_back(task->sample(g));
  const TokenBatch packed = smallest_batch(xs, task->context()), padded = make_batch(xs);
  CHECK(packed.real_tokens() == padded.real_tokens());
  CHECK(packed.padding_fraction() < padded.padding_fraction());
  CHECK(packed.inputs.size(0) <= s.rows);
}
