using System.Diagnostics;
using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace VectorFit;

/// <summary>
/// libtorch's version counter of a tensor (PyTorch's <c>tensor._version</c>): a number every in-place operation on the
/// tensor's storage increments, through any handle, view or <c>detach()</c>ed alias, with or without <c>no_grad</c>.
/// </summary>
/// <remarks>
/// <para>
/// TorchSharp 0.107.0 does not expose it, but libtorch exports it: <c>at::TensorBase::_version() const</c> takes the
/// <c>at::Tensor*</c> that a TorchSharp <c>Tensor.Handle</c> is as its only argument (the <c>this</c> pointer travels as
/// the first argument on x64 and arm64, System V and Windows alike). It is found by its mangled name in the libtorch CPU
/// library already loaded by TorchSharp; where it is not found (another ABI, a renamed symbol) <see cref="IsAvailable"/>
/// is false and callers fall back to not trusting the tensor. <c>TensorVersionTests</c> pins the behaviour on the
/// libtorch this project ships with.
/// </para>
/// <para>
/// Inference tensors (created inside <c>torch.inference_mode()</c>) have no counter; libtorch throws a C++ exception
/// for them, which must never cross into .NET, so <c>at::native::is_inference</c> is asked first and such tensors
/// report no version. A write straight into a tensor's memory (<c>data&lt;T&gt;()</c>, <c>bytes</c>,
/// <c>ReadBytesFromStream</c>) bypasses libtorch and does not count: as in PyTorch, the counter sees operations only.
/// </para>
/// </remarks>
internal static class TensorVersion
{
    // Itanium C++ ABI (Linux, macOS) first, then MSVC.
    private static readonly string[] VersionSymbols = ["_ZNK2at10TensorBase8_versionEv", "?_version@TensorBase@at@@QEBA_JXZ"];
    private static readonly string[] IsInferenceSymbols = ["_ZN2at6native12is_inferenceERKNS_6TensorE", "?is_inference@native@at@@YA_NAEBVTensor@2@@Z"];

    private static readonly Lazy<(VersionFn Version, IsInferenceFn IsInference)?> Functions = new(Load, LazyThreadSafetyMode.ExecutionAndPublication);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate long VersionFn(IntPtr tensor);

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    [return: MarshalAs(UnmanagedType.I1)]
    private delegate bool IsInferenceFn(IntPtr tensor);

    /// <summary>Whether libtorch's version counter could be reached in this process.</summary>
    public static bool IsAvailable => Functions.Value is not null;

    /// <summary>
    /// The version of <paramref name="tensor"/>; false when the counter is unavailable, the tensor is disposed, or it is
    /// an inference tensor (which has no counter).
    /// </summary>
    public static bool TryGet(Tensor tensor, out long version)
    {
        version = 0;
        if (Functions.Value is not { } functions || tensor.IsInvalid)
        {
            return false;
        }

        var handle = tensor.Handle;
        if (functions.IsInference(handle))
        {
            return false;
        }

        version = functions.Version(handle);
        return true;
    }

    private static (VersionFn, IsInferenceFn)? Load()
    {
        using (zeros(1))
        {
            // Creating a tensor loads TorchSharp's native backend and, with it, libtorch.
        }

        var path = LoadedLibTorchCpu();
        if (path is null || !NativeLibrary.TryLoad(path, out var library))
        {
            return null;
        }

        var version = Export(library, VersionSymbols);
        var isInference = Export(library, IsInferenceSymbols);
        if (version == IntPtr.Zero || isInference == IntPtr.Zero)
        {
            return null;
        }

        return (Marshal.GetDelegateForFunctionPointer<VersionFn>(version), Marshal.GetDelegateForFunctionPointer<IsInferenceFn>(isInference));
    }

    private static IntPtr Export(IntPtr library, string[] names)
    {
        foreach (var name in names)
        {
            if (NativeLibrary.TryGetExport(library, name, out var address))
            {
                return address;
            }
        }

        return IntPtr.Zero;
    }

    /// <summary>The file of the libtorch CPU library in this process (<c>libtorch_cpu.so</c>, <c>.dylib</c>, <c>torch_cpu.dll</c>).</summary>
    private static string? LoadedLibTorchCpu()
    {
        using var process = Process.GetCurrentProcess();
        foreach (ProcessModule module in process.Modules)
        {
            var file = module.ModuleName;
            if (file.StartsWith("libtorch_cpu.", StringComparison.Ordinal) || file.Equals("torch_cpu.dll", StringComparison.OrdinalIgnoreCase))
            {
                return module.FileName;
            }
        }

        return null;
    }
}
