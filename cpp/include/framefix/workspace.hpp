#pragma once
// Scratch memory that later calls on the same thread reuse. A block of a few megabytes freed
// after every call goes back to the operating system, and faulting its pages in again on the
// next call cost as much as the arithmetic: at 640x360 the flow estimator's luma planes, pyramid
// and flow buffers took about a thousand page faults a pair, a third of ultrafast's time.

#include <array>
#include <cstddef>
#include <memory>

namespace framefix::detail {

// `planes` float planes of `plane_size` floats each, taken from a small per-thread pool of
// cached blocks; workspaces nest (the estimator holds its pyramid while the refinement holds
// its planes), each taking the smallest free block that is large enough. Calls repeat the same
// sequence of requests, so every block settles into one role and is reused as it is. A thread keeps at most kKeptFloats floats
// (128 MiB) in its pool; what does not fit is allocated for the call and freed after it.
class Workspace {
public:
    static constexpr std::size_t kKeptFloats = std::size_t{1} << 25;

    Workspace(std::size_t planes, std::size_t plane_size) : plane_size_(plane_size) {
        const std::size_t count = planes * plane_size;
        Pool& pool = thread_pool();
        Block* chosen = nullptr;  // the smallest free block large enough...
        for (Block& block : pool.blocks)
            if (!block.in_use && block.count >= count && (!chosen || block.count < chosen->count)) chosen = &block;
        if (!chosen) {  // ... else the largest free block, grown if the pool can keep it
            Block* largest = nullptr;
            for (Block& block : pool.blocks)
                if (!block.in_use && (!largest || block.count > largest->count)) largest = &block;
            if (largest && pool.kept - largest->count + count <= kKeptFloats) {
                pool.kept -= largest->count;
                largest->count = 0;
                largest->data.reset();  // freed before the larger block is taken
                largest->data.reset(new float[count]);
                largest->count = count;
                pool.kept += count;
                chosen = largest;
            }
        }
        if (chosen) {
            chosen->in_use = true;
            block_ = chosen;
            data_ = chosen->data.get();
        } else {
            owned_.reset(new float[count]);
            data_ = owned_.get();
        }
    }
    ~Workspace() {
        if (block_) block_->in_use = false;
    }
    Workspace(const Workspace&) = delete;
    Workspace& operator=(const Workspace&) = delete;
    float* plane(std::size_t index) const noexcept { return data_ + index * plane_size_; }

private:
    struct Block {
        std::unique_ptr<float[]> data;
        std::size_t count = 0;
        bool in_use = false;
    };
    struct Pool {
        std::array<Block, 6> blocks;
        std::size_t kept = 0;  // floats held by the blocks
    };
    static Pool& thread_pool() {
        thread_local Pool pool;
        return pool;
    }

    std::size_t plane_size_;
    float* data_ = nullptr;
    Block* block_ = nullptr;
    std::unique_ptr<float[]> owned_;
};

}  // namespace framefix::detail
