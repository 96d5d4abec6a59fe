// fuzz_subword.cpp — a stored SentencePiece model (a checkpoint's tokenizer_model) on
// any bytes. Checks: bytes that are not a usable model are refused with
// std::invalid_argument, never a crash; a model that loads rebuilds as a bpe tokenizer
// from its own pieces, encodes a fixed text into ids of its vocabulary, and decodes.
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tasks/subword.h"
#include "tasks/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> pieces;
  try {
    pieces = mc::SubwordModel::load(bytes).pieces();
  } catch (const std::invalid_argument&) {
    return 0;  // refused, as a checkpoint's loader reports it
  }
  mc::Tokenizer tok;
  try {
    tok = mc::Tokenizer::from_tokens("bpe", pieces, bytes);
  } catch (const std::invalid_argument&) {
    std::abort();  // a model that loads must rebuild from its own pieces
  }
  const std::string text = "First Citizen:\n\tBefore we proceed any further,  hear me speak. \xe2\x96\x81 caf\xc3\xa9\n";
  std::vector<int64_t> ids;
  try {
    ids = tok.encode(text);
  } catch (const std::invalid_argument&) {
    return 0;  // SentencePiece refused to encode with this model: an error, not a crash
  }
  for (int64_t id : ids)
    if (id < 0 || id >= tok.size()) std::abort();
  (void)tok.decode(ids);
  return 0;
}
