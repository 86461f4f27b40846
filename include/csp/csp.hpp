// csp.hpp: all of csp. Each part also has its own header.
#pragma once

#include "csp/channel.hpp"
#include "csp/channel_status.hpp"
#include "csp/context.hpp"
#include "csp/diagnostics.hpp"
#include "csp/error_group.hpp"
#include "csp/go.hpp"
#include "csp/mutex.hpp"
#include "csp/panic_error.hpp"
#include "csp/select.hpp"
#include "csp/time.hpp"
#include "csp/wait_group.hpp"
