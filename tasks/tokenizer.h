// tokenizer.h — text to token ids and back: bytes, characters (UTF-8) or words.
//
//   byte  256 symbols, any file; decode(encode(x)) == x for every byte string.
//   char  the characters of the training text (UTF-8 code points; a byte that is not
//         valid UTF-8 becomes a character of its own), plus <unk> for characters the
//         training text lacks. decode(encode(x)) == x for text made of known characters.
//   word  white-space separated words, newlines kept as <eol>; words outside the
//         vocabulary (rarer than --min-count, or past --vocab-size) become <unk>.
//         decode joins words with single spaces.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace mc {

class Tokenizer {
 public:
  // Learns the vocabulary of `kind` from `text`. word: keeps words seen at least
  // min_count times, at most max_vocab of them (0: no limit), most frequent first.
  static Tokenizer train(const std::string& kind, std::string_view text, int64_t max_vocab = 0, int64_t min_count = 1);
  // Rebuilds a tokenizer from its kind and token list (as stored in a checkpoint).
  static Tokenizer from_tokens(const std::string& kind, const std::vector<std::string>& tokens);

  const std::string& kind() const { return kind_; }
  const std::vector<std::string>& tokens() const { return tokens_; }  // id -> text
  int64_t size() const { return int64_t(tokens_.size()); }
  std::vector<int64_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // The text token `id` adds after token `prev` (-1: at the start), so that printing
  // the pieces of a sequence one by one gives decode() of it: word tokens add the
  // space between words.
  std::string piece(int64_t id, int64_t prev) const;
  // What one token is, for bits per byte / per character: byte and char count 1 each.
  const char* unit() const { return kind_ == "byte" ? "byte" : kind_ == "char" ? "char" : "word"; }

 private:
  std::string kind_;
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t, std::less<>> index_;
  int64_t unk_ = -1;
};

// Splits UTF-8 text into characters; a byte that does not start a well-formed sequence
// (overlong forms, surrogates and code points above U+10FFFF are not) is a one-byte
// character.
std::vector<std::string_view> utf8_chars(std::string_view text);
// Whether text is well-formed UTF-8 throughout (what a JSON string may hold).
bool is_valid_utf8(std::string_view text);

}  // namespace mc
