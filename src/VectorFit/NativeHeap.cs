using System.Runtime.InteropServices;

namespace VectorFit;

/// <summary>Returns the C heap's free memory to the system after surgery (glibc's <c>malloc_trim(0)</c>; a no-op elsewhere).</summary>
/// <remarks>
/// Surgery frees ~80 MB of float64 temporaries per BERT-base layer (the weight, U, V, LAPACK's workspace) between
/// allocations that stay (the layer's U and V). glibc keeps such freed blocks in its heaps (it raises its mmap threshold
/// after the first large free), so before this trim a 12-layer BERT-base-shaped model's process held 229 MiB more after
/// <see cref="ModelSurgery.Apply"/> than it uses (docs/benchmarks.md §2, issue 17). The memory would be reused, but it
/// counts in RSS and in a container's limit until then.
/// </remarks>
internal static class NativeHeap
{
    /// <summary>Trims the C heap where glibc provides <c>malloc_trim</c>; returns whether it ran.</summary>
    public static bool Trim()
    {
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }

        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false; // musl and other C libraries without malloc_trim
        }
    }

    // DllImport rather than LibraryImport: the source-generated stub needs unsafe code, and an int and a nuint marshal as they are.
    [DllImport("libc", EntryPoint = "malloc_trim")]
    [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
    private static extern int MallocTrim(nuint pad);
}
