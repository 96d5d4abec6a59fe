// subword.cpp — SentencePiece behind minicope's tokenizer (subword.h).
#include "tasks/subword.h"

#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <regex>
#include <stdexcept>
#include <unordered_map>

namespace mc {

namespace {

// Where the next outside character (subword.h) starts in text at or after `from`, and
// its index in kSubwordOutside; {text.size(), -1} when none follows.
std::pair<size_t, int64_t> next_outside(std::string_view text, size_t from) {
  for (size_t i = from; i < text.size(); ++i)
    for (int64_t k = 0; k < kSubwordOutsideCount; ++k)
      if (text.compare(i, kSubwordOutside[k].size(), kSubwordOutside[k]) == 0) return {i, k};
  return {text.size(), -1};
}

// The pieces of text between outside characters, for the trainer: empty ones skipped,
// long ones cut at a space (or else at a character) before kMaxSegment bytes.
class SegmentIterator : public sentencepiece::SentenceIterator {
 public:
  explicit SegmentIterator(std::string_view text) : text_(text) { advance(); }
  bool done() const override { return done_; }
  void Next() override { advance(); }
  const std::string& value() const override { return segment_; }
  sentencepiece::util::Status status() const override { return {}; }

 private:
  void advance() {
    while (at_ < text_.size()) {
      const auto [end, which] = next_outside(text_, at_);
      size_t stop = end;
      if (stop - at_ > kMaxSegment) {  // a long stretch: the next part of it
        stop = at_ + kMaxSegment;
        while (stop > at_ && (static_cast<unsigned char>(text_[stop]) & 0xc0) == 0x80) --stop;  // not inside a character
        const size_t space = text_.rfind(' ', stop);
        if (space != std::string_view::npos && space > at_ + kMaxSegment / 2) stop = space;
      }
      segment_.assign(text_.substr(at_, stop - at_));
      at_ = stop == end ? end + (which < 0 ? 0 : kSubwordOutside[which].size()) : stop;
      if (!segment_.empty()) return;
    }
    done_ = true;
  }
  std::string_view text_;
  size_t at_ = 0;
  std::string segment_;
  bool done_ = false;
};

// SentencePiece's message for a vocabulary the text does not allow, in minicope's
// terms: its sizes count SentencePiece's pieces, ours the outside ids too.
std::string vocab_message(const std::string& kind, int64_t vocab, const std::string& spm) {
  std::smatch m;
  const std::string size = "--vocab-size " + std::to_string(vocab);
  if (std::regex_search(spm, m, std::regex("Vocabulary size too high \\(\\d+\\)\\. Please set it to a value <= (\\d+)")))
    return size + ": more " + kind + " tokens than the training text allows (at most " +
           std::to_string(std::stoll(m[1]) + kSubwordOutsideCount) + ")";
  if (std::regex_search(spm, m, std::regex("smaller than required_chars\\. \\d+ vs (\\d+)")))
    return size + ": too few " + kind + " tokens for the training text (at least " +
           std::to_string(std::stoll(m[1]) + kSubwordOutsideCount) + ": each of its characters, <unk>, and newline, tab, U+2581 and U+2585)";
  return size + ": SentencePiece could not train a " + kind + " tokenizer: " + spm;
}

}  // namespace

SubwordModel SubwordModel::train(const std::string& kind, std::string_view text, int64_t vocab) {
  if (kind != "bpe" && kind != "unigram") throw std::invalid_argument("unknown subword tokenizer '" + kind + "' (bpe, unigram)");
  const int64_t spm_vocab = vocab - kSubwordOutsideCount;
  if (spm_vocab < 2)
    throw std::invalid_argument("--vocab-size " + std::to_string(vocab) + ": too few " + kind + " tokens (newline, tab, U+2581 and U+2585 take " +
                                std::to_string(kSubwordOutsideCount) + " of them)");
  // Identity normalisation, spaces kept as they are, no start/end symbols, every
  // character of the text in the alphabet; one thread, so every rank trains the same.
  const std::unordered_map<std::string, std::string> args = {
      {"model_type", kind},
      {"vocab_size", std::to_string(spm_vocab)},
      {"character_coverage", "1.0"},
      {"normalization_rule_name", "identity"},
      {"add_dummy_prefix", "false"},
      {"remove_extra_whitespaces", "false"},
      {"split_digits", "false"},
      {"bos_id", "-1"},
      {"eos_id", "-1"},
      {"max_sentence_length", "65536"},
      {"num_threads", "1"},
      {"minloglevel", "2"},
  };
  SegmentIterator segments(text);
  if (segments.done())
    throw SubwordTextError("nothing for SentencePiece to learn from: the text holds only newlines, tabs, U+2581 and U+2585");
  SubwordModel m;
  const auto status = sentencepiece::SentencePieceTrainer::Train(args, &segments, &m.serialized_);
  if (!status.ok()) throw std::invalid_argument(vocab_message(kind, vocab, status.ToString()));
  return load(m.serialized_);
}

SubwordModel SubwordModel::load(const std::string& serialized) {
  auto sp = std::make_shared<sentencepiece::SentencePieceProcessor>();
  if (!sp->LoadFromSerializedProto(serialized).ok() || sp->GetPieceSize() < 1 || !sp->IsUnknown(0))
    throw std::invalid_argument("not a SentencePiece model of minicope's (no <unk> at id 0)");
  SubwordModel m;
  m.sp_ = std::move(sp);
  m.serialized_ = serialized;
  return m;
}

std::vector<std::string> SubwordModel::pieces() const {
  std::vector<std::string> out;
  const std::string_view mark = kSubwordOutside[2];  // ▁, SentencePiece's space
  for (int id = 0; id < sp_->GetPieceSize(); ++id) {
    const std::string& p = sp_->IdToPiece(id);
    if (id == 0) {  // <unk> stays as it is spelled
      out.push_back(p);
      continue;
    }
    std::string text;  // the piece with each ▁ read as a space
    for (size_t at = 0;;) {
      const size_t k = p.find(mark, at);
      text.append(p, at, k == std::string::npos ? std::string::npos : k - at);
      if (k == std::string::npos) break;
      text += ' ';
      at = k + mark.size();
    }
    out.push_back(std::move(text));
  }
  for (std::string_view c : kSubwordOutside) out.emplace_back(c);
  return out;
}

void SubwordModel::encode(std::string_view text, std::vector<int64_t>& ids) const {
  const int64_t outside0 = sp_->GetPieceSize();
  std::vector<int> segment;
  for (size_t at = 0; at <= text.size();) {
    const auto [end, which] = next_outside(text, at);
    if (end > at) {
      if (!sp_->Encode(text.substr(at, end - at), &segment).ok())
        throw std::invalid_argument("SentencePiece could not encode the text");
      ids.insert(ids.end(), segment.begin(), segment.end());
    }
    if (which < 0) break;
    ids.push_back(outside0 + which);
    at = end + kSubwordOutside[which].size();
  }
}

size_t SubwordModel::first_token_bytes(std::string_view text) const {
  const auto [end, which] = next_outside(text, 0);
  if (end == 0) return which < 0 ? 0 : kSubwordOutside[which].size();  // an outside character, or nothing
  const auto pieces = sp_->EncodeAsImmutableProto(text.substr(0, end));
  return pieces.pieces_size() > 0 ? pieces.pieces(0).end() : end;  // identity normalisation: offsets into the text
}

}  // namespace mc
