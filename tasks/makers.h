// makers.h — what the task files share (not for outside tasks/): the maker of each
// task, which make_task calls, the seeds of the evaluation splits, the option check.
#pragma once
#include <memory>
#include <string>

#include "tasks/task.h"

namespace mc {

std::unique_ptr<Task> make_flipflop(const TaskOptions& opt);  // flipflop.cpp
std::unique_ptr<Task> make_selcopy(const TaskOptions& opt);   // selcopy.cpp
std::unique_ptr<Task> make_counting(const TaskOptions& opt);  // counting.cpp
std::unique_ptr<Task> make_text_task(const TaskOptions& opt); // text.cpp

// The seed of a fixed evaluation split: a constant, so every run sees the same sets.
uint64_t split_seed(const std::string& task, const std::string& split);

// A task option out of range: SettingError naming the setting (as flag and config key).
void require(bool ok, const char* setting, const std::string& what);

}  // namespace mc
