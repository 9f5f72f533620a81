#pragma once
// What the postgres-sink writes for each record: the record's rows added to
// a SinkBatch (cf/read_model_rows.h). No database here; cf::SinkStore writes
// the batch in one transaction together with its consumed offsets.
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "cf/read_model_rows.h"
#include "cf/row_fields.h"  // ProjectionError

namespace cf {

/// The topics the sink reads, with what it does with each.
std::vector<std::string> sink_input_topics();

/// Adds one record's rows. `header` returns a header's value or nullopt.
/// Throws ProjectionError for a record that cannot be written (the caller
/// dead-letters it and still advances past it).
void project_record(std::string_view topic, std::string_view value,
                    const std::function<std::optional<std::string>(const char*)>& header,
                    SinkBatch& batch);

}  // namespace cf
