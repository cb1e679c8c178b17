#pragma once

// Bodies and heads in the HTTP layer travel in the event layer's buffers (chains of libevent
// memory, moved without copies).

#include "proxy/event/buffer.h"

namespace switchyard::http {

using event::Buffer;

}  // namespace switchyard::http
