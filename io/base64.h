// base64.h — bytes as text (RFC 4648, with padding), for binary data in a checkpoint's
// JSON metadata (a stored SentencePiece model).
#pragma once
#include <string>
#include <string_view>

namespace mc {

std::string base64_encode(std::string_view bytes);
// Throws std::invalid_argument for text that is not base64 (a wrong length, a byte
// outside the alphabet, padding that is not at the end).
std::string base64_decode(std::string_view text);

}  // namespace mc
