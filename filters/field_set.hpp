#pragma once
// The allow-list of fields a decision lets through, as dotted paths ("email",
// "address.city", "Account__r.Name"). Array indices are not part of a path: every element of
// an array of objects is filtered by the same paths. Unknown fields are stripped: membership is
// the only way a field survives.

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace exportwall::filters {

class field_set {
  public:
    field_set() = default;
    explicit field_set(std::vector<std::string> paths);

    // True when `path` itself or one of its ancestors is allowed: the whole value passes.
    [[nodiscard]] bool keeps(std::string_view path) const;

    // True when some allowed path lies strictly below `path`: an object or array at `path` must
    // be entered and filtered member by member rather than dropped whole.
    [[nodiscard]] bool descends(std::string_view path) const;

    [[nodiscard]] const std::vector<std::string>& paths() const { return *paths_; }
    [[nodiscard]] bool empty() const { return paths_->empty(); }

  private:
    // Sorted, unique, never changed after construction: shared by the copies (a filter's spec
    // copies its purpose's set for every export; a copy is a reference count, not a vector of
    // strings).
    std::shared_ptr<const std::vector<std::string>> paths_ = empty_paths();
    static const std::shared_ptr<const std::vector<std::string>>& empty_paths();
};

}  // namespace exportwall::filters
