#pragma once
// saga-http on the runtime: a deferred handler. Each command starts an
// asynchronous call to its participant; the reply is written when the call
// finishes, while later commands are read. At most `max_in_flight` calls run
// at once (the worker stops reading at the limit). A command's offset is
// committed only after its reply is acknowledged, so a crash repeats the
// call (same idempotency key) and never loses a reply.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cf/http_client.h"
#include "cf/worker.h"
#include "participant_call.h"

namespace cf {

struct SagaHttpSettings {
  std::string replies_topic = "saga.replies";
  int call_timeout_ms = 5000;
  size_t max_in_flight = 2000;
};

class SagaHttpHandler : public DeferredHandler {
 public:
  SagaHttpHandler(Participants participants, SagaHttpSettings settings, HttpClient& client);
  /// Stops the client first: its callbacks refer to this handler.
  ~SagaHttpHandler() override { client_.shutdown(); }

  void start(const InputRecord& input, uint64_t ticket) override;
  void maintain(int64_t, const std::function<bool()>&, const std::function<bool()>&) override;

 private:
  Participants participants_;
  SagaHttpSettings settings_;
  HttpClient& client_;
};

}  // namespace cf
