// tpt/core/utf8.hpp: which byte strings are well-formed UTF-8, and how others are shown.
#include <string>

#include <catch2/catch.hpp>

#include "tpt/core/utf8.hpp"

TEST_CASE("well-formed UTF-8 is told from what is not", "[utf8]") {
  using tpt::utf8::valid;
  CHECK(valid(""));
  CHECK(valid("IMG_0001.JPG"));
  CHECK(valid("caf\xC3\xA9/\xE6\x96\x91\xE9\xA9\xAC.jpg"));  // e-acute, two CJK characters
  CHECK(valid("\xF0\x9F\xA6\x93"));                           // U+1F993, four bytes
  CHECK(valid("\xF4\x8F\xBF\xBF"));                           // U+10FFFF, the last code point
  CHECK_FALSE(valid("caf\xE9.jpg"));                          // Latin-1
  CHECK_FALSE(valid("\x80"));                                 // a lone continuation byte
  CHECK_FALSE(valid("\xC0\xAF"));                             // overlong '/'
  CHECK_FALSE(valid("\xE0\x80\xAF"));                         // overlong, three bytes
  CHECK_FALSE(valid("\xED\xA0\x80"));                         // a UTF-16 surrogate
  CHECK_FALSE(valid("\xF4\x90\x80\x80"));                     // above U+10FFFF
  CHECK_FALSE(valid("\xE2\x82"));                             // cut short
  CHECK(tpt::utf8::shown("caf\xE9 caf\xC3\xA9") == "caf\\xE9 caf\xC3\xA9");
}
