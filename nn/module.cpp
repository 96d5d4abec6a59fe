#include "nn/module.h"

#include <unordered_map>

namespace mc {

void Module::register_parameter(std::string name, Var& member) { params_.emplace_back(std::move(name), &member); }
void Module::register_module(std::string name, Module& child) { children_.emplace_back(std::move(name), &child); }

void Module::collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out) const {
  for (const auto& [name, slot] : params_) out.emplace_back(prefix + name, slot);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var*>> slots;
  collect("", slots);
  std::vector<std::pair<std::string, Var>> out;
  std::unordered_map<const VarImpl*, bool> seen;
  for (const auto& [name, slot] : slots)
    if (seen.emplace(slot->impl().get(), true).second) out.emplace_back(name, *slot);
  return out;
}

std::vector<Var> Module::parameters() const {
  std::vector<Var> out;
  for (auto& [name, v] : named_parameters()) out.push_back(v);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const Var& v : parameters()) n += v.numel();
  return n;
}

void Module::set_parameters(const std::vector<Var>& values) {
  std::vector<std::pair<std::string, Var*>> slots;
  collect("", slots);
  std::unordered_map<const VarImpl*, size_t> index;  // current parameter -> position in values
  for (const auto& [name, slot] : slots) index.emplace(slot->impl().get(), index.size());
  if (index.size() != values.size())
    throw ShapeError("set_parameters: the model has " + std::to_string(index.size()) + " parameters, got " +
                     std::to_string(values.size()));
  std::vector<Var> replacement(slots.size());
  for (size_t s = 0; s < slots.size(); ++s) {
    const size_t i = index.at(slots[s].second->impl().get());
    if (values[i].shape() != slots[s].second->shape())
      throw ShapeError("set_parameters: " + slots[s].first + " has shape " + shape_str(slots[s].second->shape()) +
                       ", got " + shape_str(values[i].shape()));
    replacement[s] = values[i];
  }
  for (size_t s = 0; s < slots.size(); ++s) *slots[s].second = replacement[s];
}

void Module::zero_grad() {
  for (Var& v : parameters()) v.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

}  // namespace mc
