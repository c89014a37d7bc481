#pragma once
// The audit sink the sessions write to: every record goes on to the trail, and each export's
// record is counted in /metrics first (issue 19, item 7) — by decision, reason code and grant,
// with its records in, out and dropped. One place sees every export however it ended (allowed,
// filtered, refused, aborted), as the trail does. Label values are configuration ids or codes
// only: a declared purpose or destination the configuration does not have counts as "_unknown",
// an absent one as "_none" — nothing a client typed reaches a label. Reasons are exportwall's own
// codes.

#include "audit/record.hpp"

namespace exportwall::proxy {

class runtime;

class metered_sink final : public audit::sink {
  public:
    metered_sink(audit::sink& trail, runtime& rt) : trail_(trail), rt_(rt) {}

    void append(audit::record&& r, bool durable, completion done) override;
    [[nodiscard]] bool healthy() const override { return trail_.healthy(); }

  private:
    audit::sink& trail_;
    runtime& rt_;
};

}  // namespace exportwall::proxy
