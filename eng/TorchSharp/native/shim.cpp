// The offline binding's native side: a small C ABI over libtorch.
//
// Operators are called by name through libtorch's dispatcher (the same path TorchScript uses), so
// one entry point covers every ATen operator with autograd; the managed side pushes arguments on a
// stack, names the operator and reads the results back. A handful of entry points cover what is
// not an operator: tensor lifetime, data in and out, gradients and autograd state.
//
// Every entry point catches C++ exceptions and stores the message for vf_last_error(), so libtorch
// errors reach .NET as exceptions and never terminate the process.

#include <torch/torch.h>
#include <torch/csrc/autograd/autograd.h>
#include <ATen/core/dispatch/Dispatcher.h>

#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#define VF_API extern "C" __attribute__((visibility("default")))

namespace {

thread_local std::string last_error;

struct Stack {
    std::vector<c10::IValue> values;
    std::unordered_map<std::string, c10::IValue> kwargs;
};

template <typename F>
auto guarded(F&& f, decltype(f()) fallback) -> decltype(f()) {
    try {
        last_error.clear();
        return f();
    } catch (const c10::Error& e) {
        last_error = e.what_without_backtrace();
    } catch (const std::exception& e) {
        last_error = e.what();
    } catch (...) {
        last_error = "unknown libtorch error";
    }
    return fallback;
}

template <typename F>
void guarded_void(F&& f) {
    guarded([&] { f(); return 0; }, 0);
}

at::Tensor* wrap(const at::Tensor& t) { return t.defined() ? new at::Tensor(t) : nullptr; }

const c10::OperatorHandle& find_op(const char* name, const char* overload) {
    static std::mutex mutex;
    static std::unordered_map<std::string, c10::OperatorHandle> cache;
    std::string key = std::string(name) + "." + overload;
    std::lock_guard<std::mutex> lock(mutex);
    auto it = cache.find(key);
    if (it == cache.end()) {
        auto handle = c10::Dispatcher::singleton().findSchemaOrThrow(name, overload);
        it = cache.emplace(key, handle).first;
    }
    return it->second;
}

}  // namespace

// ---- errors ----------------------------------------------------------------------------------

VF_API const char* vf_last_error() { return last_error.empty() ? nullptr : last_error.c_str(); }

// ---- argument stacks and operator calls -----------------------------------------------------

VF_API Stack* vf_stack_new() { return new Stack(); }
VF_API void vf_stack_free(Stack* s) { delete s; }
VF_API void vf_stack_clear(Stack* s) { s->values.clear(); s->kwargs.clear(); }

VF_API void vf_push_tensor(Stack* s, at::Tensor* t) {
    if (t) s->values.emplace_back(*t); else s->values.emplace_back();
}
VF_API void vf_push_none(Stack* s) { s->values.emplace_back(); }
VF_API void vf_push_int(Stack* s, int64_t v) { s->values.emplace_back(v); }
VF_API void vf_push_double(Stack* s, double v) { s->values.emplace_back(v); }
VF_API void vf_push_bool(Stack* s, int v) { s->values.emplace_back(v != 0); }
VF_API void vf_push_string(Stack* s, const char* v) { s->values.emplace_back(std::string(v)); }
VF_API void vf_push_device(Stack* s, int type, int index) {
    s->values.emplace_back(c10::Device(static_cast<c10::DeviceType>(type), static_cast<c10::DeviceIndex>(index)));
}
VF_API void vf_push_intlist(Stack* s, const int64_t* v, int n) {
    s->values.emplace_back(std::vector<int64_t>(v, v + n));
}
VF_API void vf_push_doublelist(Stack* s, const double* v, int n) {
    s->values.emplace_back(std::vector<double>(v, v + n));
}
VF_API void vf_push_tensorlist(Stack* s, at::Tensor** v, int n) {
    std::vector<at::Tensor> list;
    list.reserve(n);
    for (int i = 0; i < n; i++) list.push_back(*v[i]);
    s->values.emplace_back(list);
}
// A list of optional tensors (as aten::index takes); null entries are None.
VF_API void vf_push_opt_tensorlist(Stack* s, at::Tensor** v, int n) {
    c10::List<c10::optional<at::Tensor>> list;
    for (int i = 0; i < n; i++) list.push_back(v[i] ? c10::optional<at::Tensor>(*v[i]) : c10::nullopt);
    s->values.emplace_back(list);
}
// Turns the most recently pushed value into a keyword argument.
VF_API void vf_to_kwarg(Stack* s, const char* name) {
    s->kwargs[name] = std::move(s->values.back());
    s->values.pop_back();
}

// Calls aten operator `name` with overload `overload` ("" for the default); missing trailing
// arguments take their schema defaults. Returns the number of results, or -1 on error.
VF_API int vf_call(Stack* s, const char* name, const char* overload) {
    return guarded([&] {
        const auto& op = find_op(name, overload);
        op.schema().checkAndNormalizeInputs(s->values, s->kwargs);
        s->kwargs.clear();
        op.callBoxed(&s->values);
        return static_cast<int>(s->values.size());
    }, -1);
}

VF_API int vf_result_kind(Stack* s, int i) {
    const auto& v = s->values.at(i);
    if (v.isTensor()) return 1;
    if (v.isInt()) return 2;
    if (v.isDouble()) return 3;
    if (v.isBool()) return 4;
    if (v.isTensorList()) return 5;
    if (v.isNone()) return 0;
    return 9;
}
VF_API at::Tensor* vf_result_tensor(Stack* s, int i) { return guarded([&] { return wrap(s->values.at(i).toTensor()); }, (at::Tensor*)nullptr); }
VF_API int64_t vf_result_int(Stack* s, int i) { return guarded([&] { return s->values.at(i).toInt(); }, (int64_t)0); }
VF_API double vf_result_double(Stack* s, int i) { return guarded([&] { return s->values.at(i).toDouble(); }, 0.0); }
VF_API int vf_result_bool(Stack* s, int i) { return guarded([&] { return s->values.at(i).toBool() ? 1 : 0; }, 0); }
VF_API int vf_result_list_size(Stack* s, int i) { return guarded([&] { return (int)s->values.at(i).toTensorList().size(); }, -1); }
VF_API at::Tensor* vf_result_list_item(Stack* s, int i, int j) {
    return guarded([&] { return wrap(s->values.at(i).toTensorList().get(j)); }, (at::Tensor*)nullptr);
}

// ---- tensors ----------------------------------------------------------------------------------

VF_API void vf_tensor_free(at::Tensor* t) { delete t; }

VF_API at::Tensor* vf_tensor_from_data(const void* data, const int64_t* shape, int ndim, int dtype, int requires_grad) {
    return guarded([&] {
        auto opts = at::TensorOptions().dtype(static_cast<at::ScalarType>(dtype));
        auto t = at::empty(at::IntArrayRef(shape, ndim), opts);
        if (t.numel() > 0) std::memcpy(t.data_ptr(), data, t.numel() * t.element_size());
        if (requires_grad) t.set_requires_grad(true);
        return wrap(t);
    }, (at::Tensor*)nullptr);
}

VF_API int vf_tensor_ndim(at::Tensor* t) { return (int)t->dim(); }
VF_API void vf_tensor_shape(at::Tensor* t, int64_t* out) {
    for (int64_t i = 0; i < t->dim(); i++) out[i] = t->size(i);
}
VF_API void vf_tensor_strides(at::Tensor* t, int64_t* out) {
    for (int64_t i = 0; i < t->dim(); i++) out[i] = t->stride(i);
}
VF_API int64_t vf_tensor_numel(at::Tensor* t) { return t->numel(); }
VF_API int vf_tensor_dtype(at::Tensor* t) { return (int)t->scalar_type(); }
VF_API int64_t vf_tensor_element_size(at::Tensor* t) { return (int64_t)t->element_size(); }
VF_API int vf_tensor_device_type(at::Tensor* t) { return (int)t->device().type(); }
VF_API int vf_tensor_device_index(at::Tensor* t) { return (int)t->device().index(); }
VF_API int vf_tensor_is_contiguous(at::Tensor* t) { return t->is_contiguous() ? 1 : 0; }
VF_API void* vf_tensor_data_ptr(at::Tensor* t) { return guarded([&] { return t->data_ptr(); }, (void*)nullptr); }
VF_API int vf_tensor_same(at::Tensor* a, at::Tensor* b) { return a->unsafeGetTensorImpl() == b->unsafeGetTensorImpl() ? 1 : 0; }

// Copies the tensor's elements, in row-major order, into `out` (numel * element_size bytes).
VF_API void vf_tensor_copy_out(at::Tensor* t, void* out) {
    guarded_void([&] {
        auto c = t->detach().to(at::kCPU).contiguous();
        if (c.numel() > 0) std::memcpy(out, c.data_ptr(), c.numel() * c.element_size());
    });
}

VF_API int vf_tensor_requires_grad(at::Tensor* t) { return t->requires_grad() ? 1 : 0; }
VF_API void vf_tensor_set_requires_grad(at::Tensor* t, int v) { guarded_void([&] { t->set_requires_grad(v != 0); }); }
VF_API int vf_tensor_is_leaf(at::Tensor* t) { return t->is_leaf() ? 1 : 0; }
VF_API at::Tensor* vf_tensor_grad(at::Tensor* t) { return guarded([&] { return wrap(t->grad()); }, (at::Tensor*)nullptr); }
VF_API void vf_tensor_set_grad(at::Tensor* t, at::Tensor* g) {
    guarded_void([&] { t->mutable_grad() = g ? *g : at::Tensor(); });
}
VF_API void vf_tensor_backward(at::Tensor* t, at::Tensor* grad, int retain_graph, int create_graph) {
    guarded_void([&] {
        std::vector<at::Tensor> grads;
        if (grad) grads.push_back(*grad);
        c10::optional<bool> retain = retain_graph < 0 ? c10::nullopt : c10::optional<bool>(retain_graph != 0);
        torch::autograd::backward({*t}, grads, retain, create_graph != 0);
    });
}
VF_API at::Tensor* vf_tensor_detach(at::Tensor* t) { return guarded([&] { return wrap(t->detach()); }, (at::Tensor*)nullptr); }

VF_API double vf_tensor_item_double(at::Tensor* t) { return guarded([&] { return t->item().toDouble(); }, 0.0); }
VF_API int64_t vf_tensor_item_long(at::Tensor* t) { return guarded([&] { return t->item().toLong(); }, (int64_t)0); }
VF_API int vf_tensor_item_bool(at::Tensor* t) { return guarded([&] { return t->item().toBool() ? 1 : 0; }, 0); }

// ---- global state -----------------------------------------------------------------------------

VF_API void vf_manual_seed(int64_t seed) { guarded_void([&] { torch::manual_seed(static_cast<uint64_t>(seed)); }); }
VF_API int vf_grad_enabled() { return c10::GradMode::is_enabled() ? 1 : 0; }
VF_API void vf_set_grad_enabled(int v) { c10::GradMode::set_enabled(v != 0); }
VF_API int vf_get_num_threads() { return at::get_num_threads(); }
VF_API void vf_set_num_threads(int n) { guarded_void([&] { at::set_num_threads(n); }); }
VF_API int vf_get_num_interop_threads() { return at::get_num_interop_threads(); }
VF_API const char* vf_parallel_info() {
    static std::string info;
    info = at::get_parallel_info();
    return info.c_str();
}
