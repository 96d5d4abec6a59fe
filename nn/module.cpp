#include "nn/module.h"

#include <unordered_map>

namespace mc {

void Module::register_parameter(std::string name, Var& member, Decay decay) {
  params_.push_back({std::move(name), &member, decay});
}
void Module::register_module(std::string name, Module& child) { children_.emplace_back(std::move(name), &child); }

void Module::collect(const std::string& prefix, std::vector<Slot>& out) const {
  for (const Slot& s : params_) out.push_back({prefix + s.name, s.var, s.decay});
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

std::vector<Module::Slot> Module::distinct() const {
  std::vector<Slot> slots, out;
  collect("", slots);
  std::unordered_map<const VarImpl*, bool> seen;
  for (const Slot& s : slots)
    if (seen.emplace(s.var->impl().get(), true).second) out.push_back(s);
  return out;
}

std::vector<std::pair<std::string, Var>> Module::named_parameters() const {
  std::vector<std::pair<std::string, Var>> out;
  for (const Slot& s : distinct()) out.emplace_back(s.name, *s.var);
  return out;
}

std::vector<bool> Module::decay_flags() const {
  std::vector<bool> out;
  for (const Slot& s : distinct()) out.push_back(s.decay == Decay::yes);
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
  std::vector<Slot> slots;
  collect("", slots);
  std::unordered_map<const VarImpl*, size_t> index;  // current parameter -> position in values
  for (const Slot& s : slots) index.emplace(s.var->impl().get(), index.size());
  if (index.size() != values.size())
    throw ShapeError("set_parameters: the model has " + std::to_string(index.size()) + " parameters, got " +
                     std::to_string(values.size()));
  std::vector<Var> replacement(slots.size());
  for (size_t s = 0; s < slots.size(); ++s) {
    const size_t i = index.at(slots[s].var->impl().get());
    if (values[i].shape() != slots[s].var->shape())
      throw ShapeError("set_parameters: " + slots[s].name + " has shape " + shape_str(slots[s].var->shape()) +
                       ", got " + shape_str(values[i].shape()));
    replacement[s] = values[i];
  }
  for (size_t s = 0; s < slots.size(); ++s) *slots[s].var = replacement[s];
}

void Module::zero_grad() {
  for (Var& v : parameters()) v.zero_grad();
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
}

}  // namespace mc
