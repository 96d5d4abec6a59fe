// subword.h — BPE and unigram subword tokens through SentencePiece (tokenizer.h's
// "bpe" and "unigram" kinds). Internal to tasks/: the installed tokenizer.h does not
// include SentencePiece's headers.
//
// SentencePiece is trained on the text cut at every newline, tab, U+2581 ("▁",
// SentencePiece's own mark for a space) and U+2585 ("▅", its mark for an unknown
// character: its trainer skips every line holding one), so that none of the four is
// inside a SentencePiece piece; a stretch longer than kMaxSegment bytes is cut too
// (the trainer skips longer lines). minicope gives each of the four an id of its own
// after SentencePiece's pieces:
//
//   ids 0 .. S-1   SentencePiece's pieces; 0 is <unk>
//   id  S          "\n"
//   id  S+1        "\t"     (SentencePiece's trainer drops tabs from its alphabet)
//   id  S+2        "▁"      (SentencePiece would read it back as a space)
//   id  S+3        "▅"      (SentencePiece reserves it)
//
// Normalisation is off (no NFKC, no collapsing of spaces, no dummy prefix), so a
// piece's text is its surface with ▁ read as a space, and decode(encode(x)) == x for
// UTF-8 text whose characters all appear in the training text. A run of characters the
// training text lacks is one <unk>.
#pragma once
#include <cstdint>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace mc {

// The characters minicope keeps outside SentencePiece, in id order after its pieces.
inline constexpr std::string_view kSubwordOutside[] = {"\n", "\t", "\xe2\x96\x81", "\xe2\x96\x85"};
inline constexpr int64_t kSubwordOutsideCount = int64_t(std::size(kSubwordOutside));
inline constexpr size_t kMaxSegment = 16384;  // bytes of one training sentence, at most

// A training text SentencePiece cannot learn from (nothing but the outside characters).
struct SubwordTextError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

class SubwordModel {
 public:
  // Trains SentencePiece's `kind` ("bpe" or "unigram") on `text` (valid UTF-8) for a
  // vocabulary of `vocab` ids in all, the three outside ones included. Throws
  // std::invalid_argument, naming --vocab-size, when the text allows no such vocabulary,
  // and SubwordTextError when it holds nothing to learn from.
  static SubwordModel train(const std::string& kind, std::string_view text, int64_t vocab);
  // Loads a serialized model (as train made it, stored in a checkpoint). Throws
  // std::invalid_argument for bytes that are not one.
  static SubwordModel load(const std::string& serialized);

  const std::string& serialized() const { return serialized_; }
  // The text of every id, the outside ones included: what Tokenizer::tokens() lists.
  std::vector<std::string> pieces() const;
  int64_t unk() const { return 0; }
  void encode(std::string_view text, std::vector<int64_t>& ids) const;  // appends
  // The bytes of text that its first token stands for (0 for empty text): a <unk>
  // stands for a whole run of unknown characters.
  size_t first_token_bytes(std::string_view text) const;

 private:
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  std::string serialized_;
};

}  // namespace mc
