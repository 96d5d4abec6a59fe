// subword.h — BPE and unigram subword tokens through SentencePiece (tokenizer.h's
// "bpe" and "unigram" kinds). Internal to tasks/: the installed tokenizer.h does not
// include SentencePiece's headers.
//
// SentencePiece is trained on the text cut at every newline, tab and U+2581 ("▁",
// SentencePiece's own mark for a space), so none of the three is inside a SentencePiece
// piece. minicope gives each an id of its own after SentencePiece's pieces:
//
//   ids 0 .. S-1   SentencePiece's pieces; 0 is <unk>
//   id  S          "\n"
//   id  S+1        "\t"     (SentencePiece's trainer drops tabs from its alphabet)
//   id  S+2        "▁"      (SentencePiece would read it back as a space)
//
// Normalisation is off (no NFKC, no collapsing of spaces, no dummy prefix), so a
// piece's text is its surface with ▁ read as a space, and decode(encode(x)) == x for
// UTF-8 text whose characters all appear in the training text.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sentencepiece {
class SentencePieceProcessor;
}

namespace mc {

// The characters minicope keeps outside SentencePiece, in id order after its pieces.
inline constexpr std::string_view kSubwordOutside[] = {"\n", "\t", "\xe2\x96\x81"};
inline constexpr int64_t kSubwordOutsideCount = 3;

class SubwordModel {
 public:
  // Trains SentencePiece's `kind` ("bpe" or "unigram") on `text` (valid UTF-8) for a
  // vocabulary of `vocab` ids in all, the three outside ones included. Throws
  // std::invalid_argument, naming --vocab-size, when the text allows no such vocabulary.
  static SubwordModel train(const std::string& kind, std::string_view text, int64_t vocab);
  // Loads a serialized model (as train made it, stored in a checkpoint). Throws
  // std::invalid_argument for bytes that are not one.
  static SubwordModel load(const std::string& serialized);

  const std::string& serialized() const { return serialized_; }
  // The text of every id, the outside ones included: what Tokenizer::tokens() lists.
  std::vector<std::string> pieces() const;
  int64_t unk() const { return 0; }
  void encode(std::string_view text, std::vector<int64_t>& ids) const;  // appends

 private:
  std::shared_ptr<const sentencepiece::SentencePieceProcessor> sp_;
  std::string serialized_;
};

}  // namespace mc
