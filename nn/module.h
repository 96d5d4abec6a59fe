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

// Whether a parameter takes AdamW's weight decay. The module that owns a parameter says,
// when it registers it: weight matrices do; biases, norms and position tables do not.
enum class Decay { yes, no };

class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  std::vector<std::pair<std::string, Var>> named_parameters() const;
  std::vector<Var> parameters() const;
  int64_t parameter_count() const;  // elements, shared ones counted once
  // Each parameter's weight-decay mark, in named_parameters() order (true: it decays).
  std::vector<bool> decay_flags() const;
  // Replaces the parameters, in named_parameters() order, by `values` (Vars with the same
  // shapes): every place that shared a parameter gets the same new Var. Used to load a
  // checkpoint and to put fresh leaves under a gradient check.
  void set_parameters(const std::vector<Var>& values);
  void zero_grad();

  void train(bool on = true);  // this module and every child
  void eval() { train(false); }
  bool training() const { return training_; }

 protected:
  void register_parameter(std::string name, Var& member, Decay decay);
  void register_module(std::string name, Module& child);

 private:
  struct Slot {
    std::string name;
    Var* var;
    Decay decay;
  };
  // Every registered parameter in the tree (names dotted from the root), shared ones repeated.
  void collect(const std::string& prefix, std::vector<Slot>& out) const;
  // Each distinct parameter once, under the first name found.
  std::vector<Slot> distinct() const;
  std::vector<Slot> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  bool training_ = true;
};

}  // namespace mc
