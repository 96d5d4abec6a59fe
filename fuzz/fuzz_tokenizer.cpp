// fuzz_tokenizer.cpp — the byte, char and word tokenizers on any bytes. The first byte
// chooses the kind and the vocabulary limits; the rest is the training text. Checks:
// ids lie in the vocabulary; byte and char round-trip their training text exactly; a
// tokenizer rebuilt from its token list (as from a checkpoint) encodes the same.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "tasks/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* kKinds[] = {"byte", "char", "word"};
  const std::string kind = kKinds[data[0] % 3];
  const int64_t max_vocab = (data[0] >> 2) % 4 == 0 ? 0 : (data[0] >> 2) % 16;
  const int64_t min_count = 1 + (data[0] >> 6);
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);

  std::string joined;  // utf8_chars splits without losing or adding a byte
  for (std::string_view c : mc::utf8_chars(text)) joined += c;
  if (joined != text) std::abort();

  const mc::Tokenizer tok = mc::Tokenizer::train(kind, text, max_vocab, min_count);
  const std::vector<int64_t> ids = tok.encode(text);
  for (int64_t id : ids)
    if (id < 0 || id >= tok.size()) std::abort();
  if (kind != "word" && tok.decode(ids) != text) std::abort();
  const mc::Tokenizer again = mc::Tokenizer::from_tokens(kind, tok.tokens());
  if (again.encode(text) != ids) std::abort();
  (void)tok.decode(ids);
  return 0;
}
