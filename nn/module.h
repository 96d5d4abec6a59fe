// module.h — Module: a named tree of parameters with a train/eval switch.
//
// A module registers its parameter members (Var fields) and its child modules under
// names; named_parameters() walks the tree and gives dotted names such as
// "blocks.0.attn.q.weight". A parameter shared by several modules (tied embeddings,
// CoPE tables shared across layers) is listed once, under the first name found.
#pragma once
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/var.h"

namespace mc {

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  int64_t parameter_count() const;  // elements, shared ones counted once
  // Replaces the parameters, in named_parameters() order, by `values` (Vars with the same
  // shapes): every place that shared a parameter gets the same new Var. Used to load a
  // checkpoint and to put fresh leaves under a gradient check.
  void set_parameters(const std::vector<Var>& values);
  void zero_grad();

  void train(bool on = true);  // this module and every child
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  void register_parameter(std::string name, Var& member);
  void register_module(std::string name, Module& child);

 private:
  // (name, slot) for every registered parameter in the tree, shared ones repeated.
  void collect(const std::string& prefix, std::vector<std::pair<std::string, Var*>>& out) const;
  std::vector<std::pair<std::string, Var*>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

}  // namespace mc
