#pragma once

#include <string>

#include "proxy/common/random.h"

namespace switchyard::common {

// A random UUID (RFC 9562 version 4): 122 bits from `random`, the version nibble set to 4 and the
// variant bits to 10, formatted as 36 lower-case characters "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".
// Allocates only the returned string; deterministic for a seeded Random.
std::string uuidV4(Random& random);
// The same, written into `out` (reusing its buffer).
void uuidV4(Random& random, std::string& out);

}  // namespace switchyard::common
