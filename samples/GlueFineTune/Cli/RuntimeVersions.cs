using System.Reflection;
using System.Runtime.InteropServices;
using TorchSharp;
using VectorFit;

namespace GlueFineTune.Cli;

/// <summary>
/// What this process runs on, read at run time from the loaded assemblies and native libraries
/// (not from the build): the text of <c>--version</c>, which <c>build.sh</c> prints.
/// </summary>
internal static class RuntimeVersions
{
    /// <summary>The VectorFit assembly's version, e.g. <c>0.1.0</c>.</summary>
    public static string VectorFit => InformationalVersion(typeof(VectorFitLinear).Assembly);

    /// <summary>The loaded TorchSharp assembly's version, e.g. <c>0.107.0</c>.</summary>
    public static string TorchSharp => InformationalVersion(typeof(torch).Assembly);

    /// <summary>The libtorch release the loaded TorchSharp binds (<c>torch.__version__</c>), e.g. <c>2.10.0</c>.</summary>
    public static string LibTorch => TrimZeroRevision(torch.__version__);

    /// <summary>
    /// The file the libtorch CPU library was loaded from (Linux: read from <c>/proc/self/maps</c> after
    /// loading TorchSharp's native backend), or null where that cannot be read.
    /// </summary>
    public static string? LoadedLibTorchFile()
    {
        using (torch.zeros(1))
        {
            // creating a tensor loads TorchSharp's native backend (libLibTorchSharp, libtorch)
        }

        if (!RuntimeInformation.IsOSPlatform(OSPlatform.Linux) || !File.Exists("/proc/self/maps"))
        {
            return null;
        }

        return File.ReadLines("/proc/self/maps")
            .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var slash and >= 0 ? line[slash..] : null)
            .FirstOrDefault(path => path is not null && Path.GetFileName(path).StartsWith("libtorch_cpu.", StringComparison.Ordinal));
    }

    /// <summary>One line: VectorFit, TorchSharp, libtorch (with the loaded file where known) and .NET.</summary>
    public static string Describe()
    {
        string? file = LoadedLibTorchFile();
        string where = file is null ? "" : $", loaded from {file}";
        return $"VectorFit {VectorFit}, TorchSharp {TorchSharp}, libtorch {LibTorch}{where}, .NET {Environment.Version}";
    }

    private static string InformationalVersion(Assembly assembly)
    {
        string version = assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion
            ?? assembly.GetName().Version?.ToString()
            ?? "unknown";
        int plus = version.IndexOf('+', StringComparison.Ordinal);
        return plus >= 0 ? version[..plus] : version;
    }

    private static string TrimZeroRevision(string version) =>
        version.Count(c => c == '.') == 3 && version.EndsWith(".0", StringComparison.Ordinal) ? version[..^2] : version;
}
