#pragma once

namespace switchyard::common {

// The reason phrase of an HTTP status ("Not Found"), for status lines and problem+json titles;
// "Unknown" for a code it does not know.
const char* reasonPhrase(int status);

}  // namespace switchyard::common
