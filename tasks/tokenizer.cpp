// tokenizer.cpp — byte, char, word and subword tokenizers (tokenizer.h).
#include "tasks/tokenizer.h"
#include "io/files.h"
#include "tasks/subword.h"

#include <algorithm>
#include <stdexcept>
#include <unordered_map>

namespace mc {

namespace {
constexpr const char* kUnk = "<unk>";
constexpr const char* kEol = "<eol>";

// The length of the UTF-8 sequence starting at s[i], or 1 for a byte that does not
// start a valid one. Valid means well-formed (RFC 3629): the shortest form, no UTF-16
// surrogate (U+D800..U+DFFF), nothing above U+10FFFF. The second byte's range depends
// on the first: E0 A0..BF (not overlong), ED 80..9F (not a surrogate), F0 90..BF (not
// overlong), F4 80..8F (not above U+10FFFF); C0, C1 and F5..FF never start one.
size_t utf8_length(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t n = 0;
  unsigned char lo = 0x80, hi = 0xbf;  // the second byte's range
  if (c >= 0xc2 && c <= 0xdf) n = 2;
  else if (c >= 0xe0 && c <= 0xef) n = 3, lo = c == 0xe0 ? 0xa0 : 0x80, hi = c == 0xed ? 0x9f : 0xbf;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, lo = c == 0xf0 ? 0x90 : 0x80, hi = c == 0xf4 ? 0x8f : 0xbf;
  if (n == 0 || i + n > s.size()) return 1;
  const auto second = static_cast<unsigned char>(s[i + 1]);
  if (second < lo || second > hi) return 1;
  for (size_t k = 2; k < n; ++k)
    if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return 1;
  return n;
}

// Words, with each newline as its own token.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      f(std::string_view(kEol));
      ++i;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
      ++i;
    } else {
      size_t j = i;
      while (j < text.size() && std::string_view(" \t\r\v\f\n").find(text[j]) == std::string_view::npos) ++j;
      f(text.substr(i, j - i));
      i = j;
    }
  }
}
}  // namespace

size_t invalid_utf8_at(std::string_view text) {
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    if (n == 1 && static_cast<unsigned char>(text[i]) >= 0x80) return i;
    i += n;
  }
  return std::string_view::npos;
}

bool is_valid_utf8(std::string_view text) { return invalid_utf8_at(text) == std::string_view::npos; }

bool is_subword(const std::string& kind) { return kind == "bpe" || kind == "unigram"; }

const std::string& Tokenizer::model() const {
  static const std::string none;
  return subword_ ? subword_->serialized() : none;
}

std::vector<std::string_view> utf8_chars(std::string_view text) {
  std::vector<std::string_view> out;
  for (size_t i = 0; i < text.size();) {
    const size_t n = utf8_length(text, i);
    out.push_back(text.substr(i, n));
    i += n;
  }
  return out;
}

Tokenizer Tokenizer::from_tokens(const std::string& kind, const std::vector<std::string>& tokens, const std::string& model) {
  if (kind != "byte" && kind != "char" && kind != "word" && !is_subword(kind))
    throw std::invalid_argument("unknown tokenizer '" + kind + "' (byte, char, word, bpe, unigram)");
  Tokenizer t;
  t.kind_ = kind;
  t.tokens_ = tokens;
  if (is_subword(kind)) {  // SentencePiece encodes; the token list is what its pieces read as
    if (model.empty()) throw std::invalid_argument("a " + kind + " tokenizer needs its SentencePiece model");
    t.subword_ = std::make_shared<const SubwordModel>(SubwordModel::load(model));
    if (t.subword_->pieces() != tokens)
      throw std::invalid_argument("the token list (" + std::to_string(tokens.size()) + " tokens) is not the SentencePiece model's (" +
                                  std::to_string(t.subword_->pieces().size()) + ")");
    t.unk_ = t.subword_->unk();
    return t;
  }
  if (!model.empty()) throw std::invalid_argument("a " + kind + " tokenizer has no SentencePiece model");
  if (kind == "byte" && tokens.size() != 256) throw std::invalid_argument("a byte tokenizer has 256 tokens, got " + std::to_string(tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i)
    if (!t.index_.emplace(tokens[i], int64_t(i)).second && kind != "byte")
      throw std::invalid_argument("the tokenizer lists " + quoted(tokens[i]) + " twice");
  if (kind != "byte") {
    auto it = t.index_.find(kUnk);
    if (it == t.index_.end()) throw std::invalid_argument("a " + kind + " tokenizer needs an <unk> token");
    t.unk_ = it->second;
  }
  return t;
}

Tokenizer Tokenizer::train(const std::string& kind, std::string_view text, int64_t max_vocab, int64_t min_count) {
  if (is_subword(kind)) {
    if (const size_t at = invalid_utf8_at(text); at != std::string_view::npos)
      throw std::invalid_argument("the training text is not UTF-8 (byte offset " + std::to_string(at) + "); --tokenizer " + kind +
                                  " reads UTF-8 text, --tokenizer byte any bytes");
    const SubwordModel m = SubwordModel::train(kind, text, max_vocab > 0 ? max_vocab : kDefaultSubwordVocab);
    return from_tokens(kind, m.pieces(), m.serialized());
  }
  std::vector<std::string> tokens;
  if (kind == "byte") {
    for (int b = 0; b < 256; ++b) tokens.push_back(std::string(1, char(b)));
  } else if (kind == "char") {
    std::vector<std::string> chars;
    for (std::string_view c : utf8_chars(text)) chars.emplace_back(c);
    std::sort(chars.begin(), chars.end());
    chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
    tokens.push_back(kUnk);
    tokens.insert(tokens.end(), chars.begin(), chars.end());
  } else if (kind == "word") {
    std::unordered_map<std::string, int64_t> count;
    for_each_word(text, [&](std::string_view w) { ++count[std::string(w)]; });
    std::vector<std::pair<std::string, int64_t>> byfreq(count.begin(), count.end());
    std::sort(byfreq.begin(), byfreq.end(), [](const auto& a, const auto& b) {
      return a.second != b.second ? a.second > b.second : a.first < b.first;  // frequent first, then by text
    });
    tokens.push_back(kUnk);
    for (const auto& [w, n] : byfreq) {
      if (n < min_count || w == kUnk) continue;
      if (max_vocab > 0 && int64_t(tokens.size()) >= max_vocab) break;
      tokens.push_back(w);
    }
  } else {
    throw std::invalid_argument("unknown tokenizer '" + kind + "' (byte, char, word, bpe, unigram)");
  }
  return from_tokens(kind, tokens);
}

std::vector<int64_t> Tokenizer::encode(std::string_view text) const {
  std::vector<int64_t> ids;
  if (subword_) {
    subword_->encode(text, ids);
  } else if (kind_ == "byte") {
    for (char c : text) ids.push_back(static_cast<unsigned char>(c));
  } else if (kind_ == "char") {
    for (std::string_view c : utf8_chars(text)) {
      auto it = index_.find(c);
      ids.push_back(it == index_.end() ? unk_ : it->second);
    }
  } else {
    for_each_word(text, [&](std::string_view w) {
      auto it = index_.find(w);
      ids.push_back(it == index_.end() ? unk_ : it->second);
    });
  }
  return ids;
}

std::string Tokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  int64_t prev = -1;
  for (int64_t id : ids) {
    out += piece(id, prev);
    prev = id;
  }
  return out;
}

size_t Tokenizer::first_token_bytes(std::string_view text) const {
  if (text.empty()) return 0;
  if (subword_) return subword_->first_token_bytes(text);
  if (kind_ == "byte") return 1;
  if (kind_ == "char") return utf8_length(text, 0);
  // word: the white space before it, then the first word, or the newline of <eol>
  const std::string_view blank = " \t\r\v\f", space = " \t\r\v\f\n";
  const size_t start = std::min(text.find_first_not_of(blank), text.size());
  if (start == text.size() || text[start] == '\n') return std::min(start + 1, text.size());
  return std::min(text.find_first_of(space, start), text.size());
}

std::string Tokenizer::piece(int64_t id, int64_t prev) const {
  if (id < 0 || id >= size()) throw std::out_of_range("decode: token id " + std::to_string(id) + " is not in the vocabulary");
  const std::string& t = tokens_[size_t(id)];
  if (kind_ != "word") return t;
  if (t == kEol) return "\n";
  // a word follows the previous one after a space, unless it starts the text or a line
  const bool line_start = prev < 0 || (prev < size() && tokens_[size_t(prev)] == kEol);
  return line_start ? t : " " + t;
}

}  // namespace mc
