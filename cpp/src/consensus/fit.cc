// Method dispatch by name, for callers that pick the method at run time.
#include <string>

#include "consensus/common.h"
#include "tagger/errors.h"

namespace tagger::consensus {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {"majority_vote", "weighted_majority_vote", "dawid_skene",
                                                 "one_coin_dawid_skene", "glad", "mace", "wawa", "zero_based_skill"};
  return names;
}

Result fit(std::string_view method, const AnswersView& a, const Options& opt) {
  if (method == "majority_vote") return majority_vote(a, opt);
  if (method == "weighted_majority_vote") return weighted_majority_vote(a, {}, opt);
  if (method == "dawid_skene") return dawid_skene(a, opt);
  if (method == "one_coin_dawid_skene") return one_coin_dawid_skene(a, opt);
  if (method == "glad") return glad(a, opt);
  if (method == "mace") return mace(a, opt);
  if (method == "wawa") return wawa(a, opt);
  if (method == "zero_based_skill") return zero_based_skill(a, opt);
  std::string known;
  for (const auto& n : method_names()) known += (known.empty() ? "" : ", ") + n;
  throw InvalidArgument("consensus: unknown method '" + std::string(method) + "' (known: " + known + ")");
}

}  // namespace tagger::consensus
