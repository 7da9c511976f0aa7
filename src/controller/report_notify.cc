#include "controller/report_notify.h"

namespace stackctl::controller {

notify::StackOutcome StackOutcomeOf(const std::string& stack,
                                    const config::RepositoryConfig& repository,
                                    reconciler::Trigger trigger, const stacksync::ReconcileReport& report) {
  notify::StackOutcome o;
  o.stack = stack;
  o.commit = report.revision;
  o.repository = repository.remote.url;
  o.status_host = repository.commit_status;
  o.drift = trigger == reconciler::Trigger::kDrift;
  o.drifted = report.drifted;
  if (report.error) {
    o.message = report.error->message();
    switch (report.failed_step) {
      case stacksync::FailedStep::kRender:
        o.ending = notify::Ending::kRenderFailed;
        break;
      case stacksync::FailedStep::kImages:
        o.ending = notify::Ending::kImageRefused;
        // The first refused service; the message names them all.
        if (!report.refused_services.empty()) o.service = report.refused_services.front();
        break;
      default:
        o.ending = report.terminal ? notify::Ending::kDeployFailed : notify::Ending::kRetrying;
        break;
    }
    return o;
  }
  o.message = report.message;
  o.service = report.result.failed_service;
  switch (report.result.outcome) {
    case reconciler::Outcome::kSucceeded:
      o.ending = notify::Ending::kDeployed;
      break;
    case reconciler::Outcome::kRolledBack:
      o.ending = notify::Ending::kRolledBack;
      break;
    case reconciler::Outcome::kFailed:
      o.ending = notify::Ending::kDeployFailed;
      break;
    case reconciler::Outcome::kPinned:
      o.ending = notify::Ending::kPinned;
      break;
    case reconciler::Outcome::kInSync:
      o.ending = report.changes_not_applied ? notify::Ending::kOutOfSync : notify::Ending::kInSync;
      break;
  }
  return o;
}

}  // namespace stackctl::controller
