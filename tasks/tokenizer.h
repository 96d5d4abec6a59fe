// tokenizer.h — text to token ids and back: bytes, characters (UTF-8), words, or
// subwords (BPE or unigram, trained by SentencePiece).
//
//   byte  256 symbols, any file; decode(encode(x)) == x for every byte string.
//   char  the characters of the training text (UTF-8 code points; a byte that is not
//         valid UTF-8 becomes a character of its own), plus <unk> for characters the
//         training text lacks. decode(encode(x)) == x for text made of known characters.
//   word  white-space separated words, newlines kept as <eol>; words outside the
//         vocabulary (rarer than --min-count, or past --vocab-size) become <unk>.
//         decode joins words with single spaces.
//   bpe, unigram  SentencePiece's pieces, learned from the training text (tasks/subword.h:
//         no normalisation, spaces kept, newline, tab and U+2581 ids of their own);
//         --vocab-size ids in all. The text must be UTF-8. decode(encode(x)) == x for
//         text made of characters the training text holds; others become <unk>.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace mc {

class SubwordModel;

// The tokenizer kinds, and the default vocabulary of the subword ones.
inline constexpr const char* kTokenizerKinds[] = {"byte", "char", "word", "bpe", "unigram"};
inline constexpr int64_t kDefaultSubwordVocab = 1024;
bool is_subword(const std::string& kind);  // bpe or unigram

class Tokenizer {
 public:
  // Learns the vocabulary of `kind` from `text`. word: keeps words seen at least
  // min_count times, at most max_vocab of them (0: no limit), most frequent first.
  // bpe, unigram: max_vocab ids in all (0: kDefaultSubwordVocab); throws
  // std::invalid_argument, naming --vocab-size, when the text does not allow that many
  // or that few, and for text that is not UTF-8.
  static Tokenizer train(const std::string& kind, std::string_view text, int64_t max_vocab = 0, int64_t min_count = 1);
  // Rebuilds a tokenizer from its kind and token list (as stored in a checkpoint), and
  // for bpe and unigram the serialized SentencePiece model, whose pieces must be the
  // tokens. Throws std::invalid_argument when they do not fit.
  static Tokenizer from_tokens(const std::string& kind, const std::vector<std::string>& tokens,
                               const std::string& model = "");
  const std::string& kind() const { return kind_; }
  // The serialized SentencePiece model (bpe, unigram), or empty: stored in checkpoints.
  const std::string& model() const;
  const std::vector<std::string>& tokens() const { return tokens_; }  // id -> text
  int64_t size() const { return int64_t(tokens_.size()); }
  int64_t unk() const { return unk_; }  // the id of <unk> (-1: byte tokens have none)
  std::vector<int64_t> encode(std::string_view text) const;
  std::string decode(const std::vector<int64_t>& ids) const;
  // The text token `id` adds after token `prev` (-1: at the start), so that printing
  // the pieces of a sequence one by one gives decode() of it: word tokens add the
  // space between words.
  std::string piece(int64_t id, int64_t prev) const;
  // The bytes at the start of `text` that encode(text)'s first token stands for (0 for
  // text with no token): the text a held-out evaluation does not predict.
  size_t first_token_bytes(std::string_view text) const;

 private:
  std::string kind_;
  std::vector<std::string> tokens_;
  std::map<std::string, int64_t, std::less<>> index_;
  int64_t unk_ = -1;
  std::shared_ptr<const SubwordModel> subword_;  // bpe, unigram (immutable: copies share it)
};

// Splits UTF-8 text into characters; a byte that does not start a well-formed sequence
// (overlong forms, surrogates and code points above U+10FFFF are not) is a one-byte
// character.
std::vector<std::string_view> utf8_chars(std::string_view text);
// Whether text is well-formed UTF-8 throughout (what a JSON string may hold), and the
// offset of the first byte that is not (std::string_view::npos: none).
bool is_valid_utf8(std::string_view text);
size_t invalid_utf8_at(std::string_view text);

}  // namespace mc
