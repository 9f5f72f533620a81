#pragma once
// The common shape of every binary's main(): configuration errors exit 2 with
// the message, anything else exits 1; --help exits 0.
#include <functional>

namespace cf {

/// Runs `body` and maps exceptions to exit codes, printing "<program>: ..." on stderr.
int guarded_main(const char* program, const std::function<int()>& body);

}  // namespace cf
