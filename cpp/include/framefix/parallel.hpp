#pragma once
// A small process-wide thread pool and parallel_for over index ranges (row stripes, tiles).
//
// Why not OpenMP: libgomp inside wheels fights with other OpenMP runtimes loaded in the same
// process and does not survive fork. This pool:
//   - lets the calling thread work too, so `workers` threads run in total;
//   - hands out chunks dynamically but with fixed boundaries, so results never depend on timing;
//   - rethrows the first exception from any chunk in the caller, after every chunk has stopped;
//   - is dropped in a forked child (the threads do not exist there) and rebuilt on first use;
//   - runs nested calls serially instead of deadlocking on its own workers.

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#define FRAMEFIX_HAVE_ATFORK 1
#endif

namespace framefix {
namespace threading {

inline std::size_t hardware_workers() noexcept {
    const unsigned n = std::thread::hardware_concurrency();
    return n == 0 ? 1 : n;
}

// Beyond this, extra threads only add scheduling noise; it also bounds a mistaken huge request.
constexpr std::size_t kMaxWorkers = 256;

class ThreadPool {
   public:
    ThreadPool() = default;
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    void ensure_threads(std::size_t count) {
        std::lock_guard<std::mutex> lock(mutex_);
        while (threads_.size() < count) threads_.emplace_back([this] { worker_loop(); });
    }

    void submit(std::function<void()> task) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            tasks_.push_back(std::move(task));
        }
        wake_.notify_one();
    }

    static bool& on_worker_thread() noexcept {
        static thread_local bool flag = false;
        return flag;
    }

   private:
    void worker_loop() {
        on_worker_thread() = true;
        for (;;) {
            std::function<void()> task;
            {
                std::unique_lock<std::mutex> lock(mutex_);
                wake_.wait(lock, [this] { return !tasks_.empty(); });
                task = std::move(tasks_.front());
                tasks_.pop_front();
            }
            task();
        }
    }

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> tasks_;
    std::vector<std::thread> threads_;
};

namespace detail {

inline std::mutex& pool_mutex() {
    static std::mutex m;
    return m;
}

// The pool is never destroyed: joining workers during static destruction (interpreter exit)
// can deadlock, and in a forked child its threads are gone, so it is abandoned there.
inline ThreadPool*& pool_slot() {
    static ThreadPool* pool = nullptr;
    return pool;
}

inline bool register_fork_handlers() {
#ifdef FRAMEFIX_HAVE_ATFORK
    pthread_atfork([] { pool_mutex().lock(); },
                   [] { pool_mutex().unlock(); },
                   [] {
                       pool_slot() = nullptr;
                       pool_mutex().unlock();
                   });
#endif
    return true;
}

inline ThreadPool& pool_with_threads(std::size_t count) {
    static const bool registered = register_fork_handlers();
    (void)registered;
    ThreadPool* pool;
    {
        std::lock_guard<std::mutex> lock(pool_mutex());
        if (pool_slot() == nullptr) pool_slot() = new ThreadPool();
        pool = pool_slot();
    }
    pool->ensure_threads(count);
    return *pool;
}

struct ForState {
    std::ptrdiff_t begin = 0, count = 0, chunks = 0;
    std::atomic<std::ptrdiff_t> next_chunk{0};
    std::atomic<bool> failed{false};
    std::exception_ptr error;
    std::mutex mutex;
    std::condition_variable all_done;
    std::ptrdiff_t done = 0;

    std::ptrdiff_t chunk_start(std::ptrdiff_t c) const noexcept { return begin + c * count / chunks; }
};

template <class Body>
void run_chunks(ForState& state, Body& body) {
    for (;;) {
        const std::ptrdiff_t c = state.next_chunk.fetch_add(1);
        if (c >= state.chunks) return;
        if (!state.failed.load()) {
            try {
                body(state.chunk_start(c), state.chunk_start(c + 1));
            } catch (...) {
                std::lock_guard<std::mutex> lock(state.mutex);
                if (!state.error) state.error = std::current_exception();
                state.failed = true;
            }
        }
        std::lock_guard<std::mutex> lock(state.mutex);
        if (++state.done == state.chunks) state.all_done.notify_all();
    }
}

}  // namespace detail

// Calls body(b, e) over [begin, end) split into contiguous chunks, on up to `workers` threads
// (the caller included). `min_chunk` keeps chunks from getting too small to be worth a hand-off.
template <class Body>
void parallel_for(std::ptrdiff_t begin, std::ptrdiff_t end, std::size_t workers, Body&& body,
                  std::ptrdiff_t min_chunk = 1) {
    const std::ptrdiff_t count = end - begin;
    if (count <= 0) return;
    workers = std::min<std::size_t>(std::max<std::size_t>(workers, 1), kMaxWorkers);
    const std::ptrdiff_t max_chunks = std::max<std::ptrdiff_t>(1, count / std::max<std::ptrdiff_t>(min_chunk, 1));
    if (workers == 1 || max_chunks == 1 || ThreadPool::on_worker_thread()) {
        body(begin, end);
        return;
    }
    auto state = std::make_shared<detail::ForState>();
    state->begin = begin;
    state->count = count;
    // A few chunks per worker balances uneven rows (a warp whose samples leave the image costs more).
    state->chunks = std::min<std::ptrdiff_t>(max_chunks, static_cast<std::ptrdiff_t>(workers) * 4);
    const std::size_t helpers = std::min<std::size_t>(workers - 1, static_cast<std::size_t>(state->chunks - 1));

    ThreadPool& pool = detail::pool_with_threads(helpers);
    for (std::size_t i = 0; i < helpers; ++i) {
        // A helper that starts after every chunk is claimed only touches `state`, which it
        // co-owns; `body` is reached only through a claimed chunk, and the caller waits for those.
        pool.submit([state, &body] { detail::run_chunks(*state, body); });
    }
    detail::run_chunks(*state, body);
    {
        std::unique_lock<std::mutex> lock(state->mutex);
        state->all_done.wait(lock, [&] { return state->done == state->chunks; });
    }
    if (state->error) std::rethrow_exception(state->error);
}

}  // namespace threading
}  // namespace framefix
