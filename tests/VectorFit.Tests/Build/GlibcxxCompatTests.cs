using System.Reflection;
using VectorFit.Build;

namespace VectorFit.Tests.Build;

/// <summary>
/// The build's fix for TorchSharp's native library on a libstdc++ without GLIBCXX_3.4.32 (eng/GlibcxxCompat.cs):
/// checked on the libLibTorchSharp.so of the TorchSharp package this build restored, and on copies of it broken
/// on purpose so that each condition of the "exactly the known case" argument is seen to refuse.
/// </summary>
public class GlibcxxCompatTests
{
    private const ushort VerFlgWeak = 0x2;

    private static readonly string TorchSharpVersion = Metadata("TorchSharpVersion");

    private static readonly string PackageLibrary =
        Path.Combine(Metadata("TorchSharpPackageDirectory"), "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    // A system libstdc++ that lacks GLIBCXX_3.4.32 but has everything older (what Debian 12's GCC 12 defines).
    private static readonly HashSet<string> Gcc12Versions = Enumerable.Range(0, 31).Select(i => i == 0 ? "GLIBCXX_3.4" : $"GLIBCXX_3.4.{i}")
        .Concat(Enumerable.Range(0, 14).Select(i => i == 0 ? "CXXABI_1.3" : $"CXXABI_1.3.{i}"))
        .ToHashSet();

    [Fact]
    public void PackageLibrary_Of_0_107_IsTheKnownCase()
    {
        byte[] library = File.ReadAllBytes(PackageLibrary);

        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(library, Gcc12Versions);

        if (TorchSharpVersion == "0.107.0")
        {
            analysis.Status.Should().Be(GlibcxxCompatStatus.Patchable, analysis.Reason);
        }
        else
        {
            // Older lines were linked against an older libstdc++: nothing to do, or the same case.
            analysis.Status.Should().BeOneOf(GlibcxxCompatStatus.NotRequired, GlibcxxCompatStatus.Patchable);
        }
    }

    [Fact]
    public void Weaken_SetsOnlyTheWeakFlagOfThatRequirement()
    {
        byte[] library = File.ReadAllBytes(PackageLibrary);
        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(library, Gcc12Versions);
        if (analysis.Status == GlibcxxCompatStatus.NotRequired)
        {
            analysis.Reason.Should().Contain("does not require", "only a library without the requirement may skip this test");
            return;
        }

        byte[] patched = GlibcxxCompat.Weaken(library, analysis);

        var changed = Enumerable.Range(0, library.Length).Where(i => library[i] != patched[i]).ToList();
        changed.Should().Equal(new[] { (int)analysis.FlagsOffset }, "one byte, the low byte of vna_flags, changes");
        (patched[analysis.FlagsOffset] & VerFlgWeak).Should().Be(VerFlgWeak);
        GlibcxxCompat.Analyse(patched, Gcc12Versions).Status.Should().Be(GlibcxxCompatStatus.AlreadyWeak);
        File.ReadAllBytes(PackageLibrary).Should().Equal(library, "the package's own file is never written");
    }

    [Fact]
    public void SystemWithTheVersion_NothingToDo()
    {
        byte[] library = File.ReadAllBytes(PackageLibrary);
        var gcc13 = new HashSet<string>(Gcc12Versions) { "GLIBCXX_3.4.31", GlibcxxCompat.Version };

        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(library, gcc13);

        analysis.Status.Should().Be(GlibcxxCompatStatus.NotRequired);
        analysis.Reason.Should().Contain("system");
    }

    [Fact]
    public void OtherUnmetRequirement_Refused()
    {
        byte[] library = File.ReadAllBytes(PackageLibrary);
        var older = new HashSet<string>(Gcc12Versions);
        older.Remove("GLIBCXX_3.4.30");
        older.Remove("GLIBCXX_3.4.29");

        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(library, older);

        if (GlibcxxCompat.Analyse(library, Gcc12Versions).Status == GlibcxxCompatStatus.Patchable)
        {
            analysis.Status.Should().Be(GlibcxxCompatStatus.Refused);
            analysis.Reason.Should().Contain("GLIBCXX_3.4.30").And.Contain("lacks too");
        }
        else
        {
            analysis.Status.Should().Be(GlibcxxCompatStatus.NotRequired);
        }
    }

    [Fact]
    public void SecondSymbolOnTheVersion_Refused()
    {
        if (KnownCase(out byte[] library) is not { } elf)
        {
            return;
        }

        GlibcxxCompat.Elf.Section versym = elf.FirstOfType(GlibcxxCompat.ShtGnuVersym)!;
        long symbol = SymbolIndex(elf, GlibcxxCompat.Symbol);
        ushort index = elf.U16(versym.Offset + 2 * symbol);
        long other = symbol == 1 ? 2 : 1;
        library[versym.Offset + 2 * other] = (byte)index;
        library[versym.Offset + 2 * other + 1] = (byte)(index >> 8);

        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(library, Gcc12Versions);

        analysis.Status.Should().Be(GlibcxxCompatStatus.Refused);
        analysis.Reason.Should().StartWith("2 symbols are bound to GLIBCXX_3.4.32");
    }

    [Fact]
    public void RelocationOfTheSymbol_Refused()
    {
        if (KnownCase(out byte[] library) is not { } elf)
        {
            return;
        }

        long symbol = SymbolIndex(elf, GlibcxxCompat.Symbol);
        GlibcxxCompat.Elf.Section rela = elf.Sections.First(s => s.Type == GlibcxxCompat.ShtRela && s.Size >= 24
            && elf.Sections[(int)s.Link].Type == GlibcxxCompat.ShtDynsym);
        // r_info of the first entry: symbol index in the high 32 bits, type in the low 32 (kept).
        long info = rela.Offset + 8 + 4;
        BitConverter.GetBytes((uint)symbol).CopyTo(library, info);

        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(library, Gcc12Versions);

        analysis.Status.Should().Be(GlibcxxCompatStatus.Refused);
        analysis.Reason.Should().Contain("relocation");
    }

    [Fact]
    public void NotAnElfFile_ClearError()
    {
        var truncated = File.ReadAllBytes(PackageLibrary)[..4096];

        FluentActions.Invoking(() => GlibcxxCompat.Analyse("not a library"u8.ToArray(), null))
            .Should().Throw<InvalidDataException>().WithMessage("not an ELF file");
        FluentActions.Invoking(() => GlibcxxCompat.Analyse(truncated, null))
            .Should().Throw<InvalidDataException>().WithMessage("*section header table*");
    }

    [Fact]
    public void DefinedVersions_ReadsLibStdCxxVersionDefinitions()
    {
        string? libstdcxx = OperatingSystem.IsLinux() ? GlibcxxCompat.FindSystemLibStdCxx() : null;
        if (libstdcxx is null)
        {
            OperatingSystem.IsLinux().Should().BeFalse("every Linux running .NET has a libstdc++");
            return;
        }

        HashSet<string> versions = GlibcxxCompat.DefinedVersions(File.ReadAllBytes(libstdcxx));

        versions.Should().Contain(["GLIBCXX_3.4", "GLIBCXX_3.4.21", "CXXABI_1.3"]);
        versions.Should().NotContain("GLIBCXX_9.9", "only the file's own definitions are read");
        GlibcxxCompat.DefinedVersions(File.ReadAllBytes(PackageLibrary)).Should().NotContain(name => name.StartsWith("GLIBCXX", StringComparison.Ordinal),
            "TorchSharp's library needs libstdc++'s versions, it does not define them");
    }

    /// <summary>
    /// The copy the build put next to these tests: weakened where this system's libstdc++ lacks the version,
    /// byte-identical to the package's file where it has it (nothing touched).
    /// </summary>
    [Fact]
    public void OutputCopy_IsPatchedExactlyWhenTheSystemNeedsIt()
    {
        string output = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
        string? libstdcxx = OperatingSystem.IsLinux() ? GlibcxxCompat.FindSystemLibStdCxx() : null;
        if (libstdcxx is null)
        {
            OperatingSystem.IsLinux().Should().BeFalse("every Linux running .NET has a libstdc++");
            return;
        }

        byte[] package = File.ReadAllBytes(PackageLibrary);
        byte[] copy = File.ReadAllBytes(output);
        HashSet<string> system = GlibcxxCompat.DefinedVersions(File.ReadAllBytes(libstdcxx));
        GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(package, system);

        if (analysis.Status == GlibcxxCompatStatus.Patchable)
        {
            copy.Should().Equal(GlibcxxCompat.Weaken(package, analysis));
        }
        else
        {
            copy.Should().Equal(package);
        }
    }

    /// <summary>The package's library and a reader over it, or null where this TorchSharp line does not need the fix.</summary>
    private static GlibcxxCompat.Elf? KnownCase(out byte[] library)
    {
        library = File.ReadAllBytes(PackageLibrary);
        GlibcxxCompatStatus status = GlibcxxCompat.Analyse(library, Gcc12Versions).Status;
        if (status == GlibcxxCompatStatus.NotRequired)
        {
            TorchSharpVersion.Should().NotBe("0.107.0", "TorchSharp 0.107.0's library requires GLIBCXX_3.4.32");
            return null;
        }

        status.Should().Be(GlibcxxCompatStatus.Patchable);
        return new GlibcxxCompat.Elf(library);
    }

    private static long SymbolIndex(GlibcxxCompat.Elf elf, string name)
    {
        GlibcxxCompat.Elf.Section dynsym = elf.FirstOfType(GlibcxxCompat.ShtDynsym)!;
        GlibcxxCompat.Elf.Section strings = elf.Sections[(int)dynsym.Link];
        for (long s = 0; s < dynsym.Size / 24; s++)
        {
            if (elf.String(strings, elf.U32(dynsym.Offset + 24 * s)) == name)
            {
                return s;
            }
        }

        throw new InvalidOperationException($"{name} is not a dynamic symbol of {PackageLibrary}");
    }

    private static string Metadata(string key) =>
        typeof(GlibcxxCompatTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"assembly metadata {key} is empty");
}
