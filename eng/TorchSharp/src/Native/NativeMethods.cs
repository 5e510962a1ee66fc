// P/Invoke declarations for the offline binding's native shim (eng/TorchSharp/native/shim.cpp).
using System.Runtime.InteropServices;

namespace TorchSharp.PInvoke
{
    internal static unsafe partial class NativeMethods
    {
        private const string Lib = "VfTorchShim";

        [LibraryImport(Lib)] internal static partial IntPtr vf_last_error();

        [LibraryImport(Lib)] internal static partial IntPtr vf_stack_new();
        [LibraryImport(Lib)] internal static partial void vf_stack_free(IntPtr s);
        [LibraryImport(Lib)] internal static partial void vf_stack_clear(IntPtr s);
        [LibraryImport(Lib)] internal static partial void vf_push_tensor(IntPtr s, IntPtr t);
        [LibraryImport(Lib)] internal static partial void vf_push_none(IntPtr s);
        [LibraryImport(Lib)] internal static partial void vf_push_int(IntPtr s, long v);
        [LibraryImport(Lib)] internal static partial void vf_push_double(IntPtr s, double v);
        [LibraryImport(Lib)] internal static partial void vf_push_bool(IntPtr s, int v);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial void vf_push_string(IntPtr s, string v);
        [LibraryImport(Lib)] internal static partial void vf_push_device(IntPtr s, int type, int index);
        [LibraryImport(Lib)] internal static partial void vf_push_intlist(IntPtr s, long* v, int n);
        [LibraryImport(Lib)] internal static partial void vf_push_doublelist(IntPtr s, double* v, int n);
        [LibraryImport(Lib)] internal static partial void vf_push_tensorlist(IntPtr s, IntPtr* v, int n);
        [LibraryImport(Lib)] internal static partial void vf_push_opt_tensorlist(IntPtr s, IntPtr* v, int n);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial void vf_to_kwarg(IntPtr s, string name);
        [LibraryImport(Lib, StringMarshalling = StringMarshalling.Utf8)] internal static partial int vf_call(IntPtr s, string name, string overload);
        [LibraryImport(Lib)] internal static partial int vf_result_kind(IntPtr s, int i);
        [LibraryImport(Lib)] internal static partial IntPtr vf_result_tensor(IntPtr s, int i);
        [LibraryImport(Lib)] internal static partial long vf_result_int(IntPtr s, int i);
        [LibraryImport(Lib)] internal static partial double vf_result_double(IntPtr s, int i);
        [LibraryImport(Lib)] internal static partial int vf_result_bool(IntPtr s, int i);
        [LibraryImport(Lib)] internal static partial int vf_result_list_size(IntPtr s, int i);
        [LibraryImport(Lib)] internal static partial IntPtr vf_result_list_item(IntPtr s, int i, int j);

        [LibraryImport(Lib)] internal static partial void vf_tensor_free(IntPtr t);
        [LibraryImport(Lib)] internal static partial IntPtr vf_tensor_from_data(void* data, long* shape, int ndim, int dtype, int requiresGrad);
        [LibraryImport(Lib)] internal static partial int vf_tensor_ndim(IntPtr t);
        [LibraryImport(Lib)] internal static partial void vf_tensor_shape(IntPtr t, long* shape);
        [LibraryImport(Lib)] internal static partial void vf_tensor_strides(IntPtr t, long* strides);
        [LibraryImport(Lib)] internal static partial long vf_tensor_numel(IntPtr t);
        [LibraryImport(Lib)] internal static partial int vf_tensor_dtype(IntPtr t);
        [LibraryImport(Lib)] internal static partial long vf_tensor_element_size(IntPtr t);
        [LibraryImport(Lib)] internal static partial int vf_tensor_device_type(IntPtr t);
        [LibraryImport(Lib)] internal static partial int vf_tensor_device_index(IntPtr t);
        [LibraryImport(Lib)] internal static partial int vf_tensor_is_contiguous(IntPtr t);
        [LibraryImport(Lib)] internal static partial IntPtr vf_tensor_data_ptr(IntPtr t);
        [LibraryImport(Lib)] internal static partial int vf_tensor_same(IntPtr a, IntPtr b);
        [LibraryImport(Lib)] internal static partial void vf_tensor_copy_out(IntPtr t, void* dst);
        [LibraryImport(Lib)] internal static partial int vf_tensor_requires_grad(IntPtr t);
        [LibraryImport(Lib)] internal static partial void vf_tensor_set_requires_grad(IntPtr t, int v);
        [LibraryImport(Lib)] internal static partial int vf_tensor_is_leaf(IntPtr t);
        [LibraryImport(Lib)] internal static partial IntPtr vf_tensor_grad(IntPtr t);
        [LibraryImport(Lib)] internal static partial void vf_tensor_set_grad(IntPtr t, IntPtr g);
        [LibraryImport(Lib)] internal static partial void vf_tensor_backward(IntPtr t, IntPtr grad, int retainGraph, int createGraph);
        [LibraryImport(Lib)] internal static partial IntPtr vf_tensor_detach(IntPtr t);
        [LibraryImport(Lib)] internal static partial double vf_tensor_item_double(IntPtr t);
        [LibraryImport(Lib)] internal static partial long vf_tensor_item_long(IntPtr t);
        [LibraryImport(Lib)] internal static partial int vf_tensor_item_bool(IntPtr t);

        [LibraryImport(Lib)] internal static partial void vf_manual_seed(long seed);
        [LibraryImport(Lib)] internal static partial int vf_grad_enabled();
        [LibraryImport(Lib)] internal static partial void vf_set_grad_enabled(int v);
        [LibraryImport(Lib)] internal static partial int vf_get_num_threads();
        [LibraryImport(Lib)] internal static partial void vf_set_num_threads(int n);
        [LibraryImport(Lib)] internal static partial int vf_get_num_interop_threads();
        [LibraryImport(Lib)] internal static partial IntPtr vf_parallel_info();

        /// Throws the pending libtorch error, if any, as an ExternalException carrying libtorch's message.
        internal static void CheckForErrors()
        {
            var p = vf_last_error();
            if (p != IntPtr.Zero) throw new ExternalException(Marshal.PtrToStringUTF8(p));
        }
    }
}
