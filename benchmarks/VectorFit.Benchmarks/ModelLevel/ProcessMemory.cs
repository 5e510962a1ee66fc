using System.Globalization;

namespace VectorFit.Benchmarks.ModelLevel;

/// <summary>This process's resident memory from <c>/proc/self/status</c> (Linux), in KiB.</summary>
public static class ProcessMemory
{
    /// <summary>Resident set size now (<c>VmRSS</c>), or -1 where /proc is missing.</summary>
    public static long ResidentKib() => Read("VmRSS");

    /// <summary>Peak resident set size (<c>VmHWM</c>) since the start or the last <see cref="ResetPeak"/>, or -1.</summary>
    public static long PeakKib() => Read("VmHWM");

    /// <summary>Resets <c>VmHWM</c> to the current RSS (writes 5 to <c>/proc/self/clear_refs</c>); false where that is not allowed.</summary>
    public static bool ResetPeak()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>
    /// Returns the C heap's free memory to the system (glibc's <c>malloc_trim(0)</c>), so that RSS shows what is live;
    /// false where there is no glibc.
    /// </summary>
    public static bool TrimNativeHeap()
    {
        try
        {
            MallocTrim(0);
            return true;
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return false;
        }
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "malloc_trim")]
    private static extern int MallocTrim(nuint pad);

    private static long Read(string field)
    {
        const string path = "/proc/self/status";
        if (!File.Exists(path))
        {
            return -1;
        }

        foreach (var line in File.ReadLines(path))
        {
            if (line.StartsWith(field + ":", StringComparison.Ordinal))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[1], CultureInfo.InvariantCulture);
            }
        }

        return -1;
    }
}
