// xml_check.h — a small XML well-formedness checker for the tests (no XML library is a
// dependency). It checks what a browser's parser rejects: UTF-8, characters XML
// forbids, tag nesting and one root, quoted attributes without '<' and with distinct
// names, and entity references. It also counts elements by class="...".
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

struct XmlCheck {
  bool ok = false;
  std::string error;                    // what was wrong, and the byte offset
  std::map<std::string, int> classes;   // class attribute value -> elements
  std::map<std::string, int> tags;      // element name -> elements
};

inline XmlCheck check_xml(const std::string& s) {
  XmlCheck r;
  size_t i = 0;
  const auto fail = [&](const std::string& what) {
    r.ok = false;
    r.error = what + " at byte " + std::to_string(i);
    return r;
  };
  // Characters: valid UTF-8 and no control characters but tab, newline, return.
  for (size_t k = 0; k < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[k]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || k + n > s.size() || (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0xC0 || c == 0xC1)
      return i = k, fail("bad character");
    for (size_t m = 1; m < n; ++m)
      if ((static_cast<unsigned char>(s[k + m]) >> 6) != 2) return i = k, fail("bad UTF-8");
    k += n;
  }
  const auto is_name = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':' || c == '-' || c == '.'; };
  const auto entity_ok = [&](size_t at) {  // s[at] == '&'
    const size_t end = s.find(';', at);
    if (end == std::string::npos || end - at > 10) return false;
    const std::string e = s.substr(at + 1, end - at - 1);
    static const std::set<std::string> named = {"amp", "lt", "gt", "quot", "apos"};
    if (named.count(e)) return true;
    if (e.size() >= 2 && e[0] == '#') {
      const bool hex = e[1] == 'x';
      for (size_t k = hex ? 2 : 1; k < e.size(); ++k)
        if (!(hex ? std::isxdigit(static_cast<unsigned char>(e[k])) : std::isdigit(static_cast<unsigned char>(e[k])))) return false;
      return e.size() > (hex ? 2u : 1u);
    }
    return false;
  };
  if (s.rfind("<?xml", 0) == 0) {
    i = s.find("?>");
    if (i == std::string::npos) return fail("unterminated prolog");
    i += 2;
  }
  std::vector<std::string> stack;
  int roots = 0;
  while (i < s.size()) {
    if (s[i] != '<') {
      if (stack.empty() && !std::isspace(static_cast<unsigned char>(s[i]))) return fail("text outside the root");
      if (s[i] == '&' && !entity_ok(i)) return fail("bad entity");
      ++i;
      continue;
    }
    if (s.compare(i, 4, "<!--") == 0) {
      const size_t end = s.find("-->", i + 4);
      if (end == std::string::npos) return fail("unterminated comment");
      i = end + 3;
      continue;
    }
    const bool closing = i + 1 < s.size() && s[i + 1] == '/';
    size_t k = i + (closing ? 2 : 1);
    const size_t name_at = k;
    while (k < s.size() && is_name(s[k])) ++k;
    const std::string name = s.substr(name_at, k - name_at);
    if (name.empty()) return fail("a tag without a name");
    if (closing) {
      while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
      if (k >= s.size() || s[k] != '>') return fail("bad closing tag");
      if (stack.empty() || stack.back() != name) return fail("</" + name + "> closes nothing open");
      stack.pop_back();
      i = k + 1;
      continue;
    }
    std::set<std::string> attrs;
    std::string cls;
    while (true) {
      const size_t before = k;
      while (k < s.size() && std::isspace(static_cast<unsigned char>(s[k]))) ++k;
      if (k >= s.size()) return fail("unterminated tag");
      if (s[k] == '>' || s.compare(k, 2, "/>") == 0) break;
      if (k == before) return fail("attributes not separated");
      const size_t a = k;
      while (k < s.size() && is_name(s[k])) ++k;
      const std::string attr = s.substr(a, k - a);
      if (attr.empty() || k + 1 >= s.size() || s[k] != '=' || (s[k + 1] != '"' && s[k + 1] != '\'')) return i = k, fail("bad attribute");
      if (!attrs.insert(attr).second) return i = k, fail("attribute " + attr + " twice");
      const char q = s[k + 1];
      const size_t end = s.find(q, k + 2);
      if (end == std::string::npos) return i = k, fail("unterminated attribute");
      for (size_t v = k + 2; v < end; ++v) {
        if (s[v] == '<') return i = v, fail("'<' in an attribute");
        if (s[v] == '&' && !entity_ok(v)) return i = v, fail("bad entity in an attribute");
      }
      if (attr == "class") cls = s.substr(k + 2, end - k - 2);
      k = end + 1;
    }
    ++r.tags[name];
    if (!cls.empty()) ++r.classes[cls];
    if (stack.empty() && ++roots > 1) return fail("a second root element");
    if (s[k] == '>') {
      stack.push_back(name);
      i = k + 1;
    } else {
      i = k + 2;
    }
  }
  if (!stack.empty()) return fail("<" + stack.back() + "> is never closed");
  if (roots != 1) return fail("no root element");
  r.ok = true;
  return r;
}
