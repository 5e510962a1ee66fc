// Makes TorchSharp's native library loadable where the system libstdc++ predates GCC 13 (Debian 12,
// Ubuntu 22.04). Compiled by MSBuild's RoslynCodeTaskFactory (see GlibcxxCompat.targets), so it
// targets netstandard2.0 and C# features that need no extra runtime types. The tests compile the
// same file with VF_GLIBCXX_COMPAT_NO_TASK defined, which leaves out the MSBuild task class.
//
// The case: libLibTorchSharp.so (TorchSharp 0.107.0) was linked against GCC 13's libstdc++ and so
// requires the symbol version GLIBCXX_3.4.32, which GCC 12's libstdc++ does not define; glibc then
// refuses to load it. The only symbol bound to that version is std::ios_base_library_init(), which
// GCC 13's <iostream> references but which nothing calls: no relocation names it. glibc honours
// VER_FLG_WEAK on a version requirement (a missing weak version is not an error), so setting that
// one flag in a copy makes the library loadable, and changes nothing else. Every condition of that
// argument is checked before a byte is written; anything else is refused with the reason.
#nullable enable
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace VectorFit.Build
{
    /// <summary>What <see cref="GlibcxxCompat.Analyse"/> found in a shared library.</summary>
    public enum GlibcxxCompatStatus
    {
        /// <summary>The library does not require the version at all: nothing to do.</summary>
        NotRequired,
        /// <summary>The requirement is already weak (a patched copy): nothing to do.</summary>
        AlreadyWeak,
        /// <summary>Exactly the known case: the requirement can be made weak safely.</summary>
        Patchable,
        /// <summary>The library requires the version in a way this fix does not cover (see the reason).</summary>
        Refused,
    }

    /// <summary>The outcome of analysing a library: the status, why, and where the flag lives.</summary>
    public sealed class GlibcxxCompatAnalysis
    {
        /// <summary>Creates an analysis.</summary>
        public GlibcxxCompatAnalysis(GlibcxxCompatStatus status, string reason, long flagsOffset)
        {
            Status = status;
            Reason = reason;
            FlagsOffset = flagsOffset;
        }

        /// <summary>What was found.</summary>
        public GlibcxxCompatStatus Status { get; private set; }

        /// <summary>A sentence saying why (for messages).</summary>
        public string Reason { get; private set; }

        /// <summary>File offset of the requirement's <c>vna_flags</c> (16 bits), or -1.</summary>
        public long FlagsOffset { get; private set; }
    }

    /// <summary>ELF64 reading and the one-flag fix for TorchSharp's GLIBCXX_3.4.32 requirement.</summary>
    public static class GlibcxxCompat
    {
        /// <summary>The library whose version is required.</summary>
        public const string LibStdCxx = "libstdc++.so.6";

        /// <summary>The version Debian 12's libstdc++ lacks.</summary>
        public const string Version = "GLIBCXX_3.4.32";

        /// <summary>The one symbol allowed to be bound to <see cref="Version"/>: std::ios_base_library_init().</summary>
        public const string Symbol = "_ZSt21ios_base_library_initv";

        internal const uint ShtRela = 4, ShtDynsym = 11, ShtRel = 9;
        internal const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
        const ushort VerFlgWeak = 0x2;

        /// <summary>Decides whether <paramref name="elf"/> (a whole shared library) is the known case.</summary>
        /// <param name="elf">The library's bytes.</param>
        /// <param name="systemVersions">
        /// The versions the system's libstdc++ defines (<see cref="DefinedVersions"/>): when they include
        /// <see cref="Version"/> nothing is to be done; otherwise every other libstdc++ requirement must be
        /// among them (or weakening one requirement would not be enough). Null skips both checks.
        /// </param>
        public static GlibcxxCompatAnalysis Analyse(byte[] elf, ICollection<string>? systemVersions)
        {
            if (systemVersions != null && systemVersions.Contains(Version)) return NotRequired("the system's libstdc++ defines " + Version);
            var file = new Elf(elf);
            Elf.Section? verneed = file.FirstOfType(ShtGnuVerneed);
            if (verneed == null) return NotRequired("the library has no version requirements");
            Elf.Section needStrings = file.Sections[(int)verneed.Link];

            long flagsOffset = -1;
            ushort versionIndex = 0, flags = 0;
            var unmet = new List<string>();
            long need = verneed.Offset;
            for (uint i = 0; i < verneed.Info; i++)
            {
                string library = file.String(needStrings, file.U32(need + 4));
                long aux = need + file.U32(need + 8);
                for (int j = 0; j < file.U16(need + 2); j++)
                {
                    string name = file.String(needStrings, file.U32(aux + 8));
                    ushort auxFlags = file.U16(aux + 4);
                    if (library == LibStdCxx && name == Version)
                    {
                        flagsOffset = aux + 4;
                        flags = auxFlags;
                        versionIndex = file.U16(aux + 6);
                    }
                    else if (library == LibStdCxx && systemVersions != null && (auxFlags & VerFlgWeak) == 0
                             && !systemVersions.Contains(name))
                    {
                        unmet.Add(name);
                    }
                    aux += file.U32(aux + 12);
                }
                need += file.U32(need + 12);
            }

            if (flagsOffset < 0) return NotRequired("the library does not require " + Version);
            if ((flags & VerFlgWeak) != 0) return new GlibcxxCompatAnalysis(GlibcxxCompatStatus.AlreadyWeak, Version + " is already a weak requirement", flagsOffset);
            if (unmet.Count > 0)
                return Refused("it also requires " + string.Join(", ", unmet) + " of " + LibStdCxx + ", which the system's libstdc++ lacks too");

            Elf.Section? dynsym = file.FirstOfType(ShtDynsym);
            Elf.Section? versym = file.FirstOfType(ShtGnuVersym);
            if (dynsym == null || versym == null) return Refused("it has no dynamic symbol table or symbol versions");
            Elf.Section symbolStrings = file.Sections[(int)dynsym.Link];
            long symbolCount = dynsym.Size / 24;
            var bound = new List<long>();
            for (long s = 0; s < symbolCount; s++)
            {
                if ((file.U16(versym.Offset + 2 * s) & 0x7fff) == versionIndex) bound.Add(s);
            }
            if (bound.Count != 1)
                return Refused(bound.Count + " symbols are bound to " + Version + " (the known case has exactly one, " + Symbol + ")");
            long symbol = bound[0];
            long entry = dynsym.Offset + 24 * symbol;
            string symbolName = file.String(symbolStrings, file.U32(entry));
            if (symbolName != Symbol) return Refused("the symbol bound to " + Version + " is " + symbolName + ", not " + Symbol);
            if (file.U16(entry + 6) != 0) return Refused(Symbol + " is defined by the library, not imported");

            foreach (Elf.Section section in file.Sections)
            {
                if ((section.Type != ShtRela && section.Type != ShtRel) || section.Link >= file.Sections.Count) continue;
                if (file.Sections[(int)section.Link].Type != ShtDynsym) continue;
                long size = section.Type == ShtRela ? 24 : 16;
                for (long r = section.Offset; r + size <= section.Offset + section.Size; r += size)
                {
                    if ((long)(file.U64(r + 8) >> 32) == symbol)
                        return Refused("a relocation uses " + Symbol + ", so the library may call it");
                }
            }

            return new GlibcxxCompatAnalysis(GlibcxxCompatStatus.Patchable,
                "only " + Symbol + " is bound to " + Version + " and no relocation uses it", flagsOffset);
        }

        /// <summary>Returns a copy of <paramref name="elf"/> with the requirement found by <see cref="Analyse"/> made weak.</summary>
        public static byte[] Weaken(byte[] elf, GlibcxxCompatAnalysis analysis)
        {
            if (analysis.Status != GlibcxxCompatStatus.Patchable)
                throw new InvalidOperationException("Only a Patchable library can be weakened: " + analysis.Reason);
            var copy = (byte[])elf.Clone();
            copy[analysis.FlagsOffset] |= (byte)VerFlgWeak;
            return copy;
        }

        /// <summary>The symbol versions an ELF shared library defines (its <c>.gnu.version_d</c>).</summary>
        public static HashSet<string> DefinedVersions(byte[] elf)
        {
            var file = new Elf(elf);
            var versions = new HashSet<string>(StringComparer.Ordinal);
            Elf.Section? verdef = file.FirstOfType(ShtGnuVerdef);
            if (verdef == null) return versions;
            Elf.Section strings = file.Sections[(int)verdef.Link];
            long def = verdef.Offset;
            for (uint i = 0; i < verdef.Info; i++)
            {
                long aux = def + file.U32(def + 12);
                versions.Add(file.String(strings, file.U32(aux)));
                def += file.U32(def + 16);
            }
            return versions;
        }

        /// <summary>
        /// The libstdc++ this process has loaded (what the dynamic linker picks in this environment),
        /// else the one <c>ldconfig -p</c> names; null when neither says.
        /// </summary>
        public static string? FindSystemLibStdCxx()
        {
            try
            {
                foreach (string line in File.ReadAllLines("/proc/self/maps"))
                {
                    int slash = line.IndexOf('/');
                    if (slash >= 0 && line.EndsWith("/" + LibStdCxx, StringComparison.Ordinal)) return line.Substring(slash);
                }
            }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }

            foreach (string dir in new[] { "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/lib64", "/usr/lib" })
            {
                string candidate = Path.Combine(dir, LibStdCxx);
                if (File.Exists(candidate)) return candidate;
            }
            return null;
        }

        static GlibcxxCompatAnalysis NotRequired(string reason) => new GlibcxxCompatAnalysis(GlibcxxCompatStatus.NotRequired, reason, -1);

        static GlibcxxCompatAnalysis Refused(string reason) => new GlibcxxCompatAnalysis(GlibcxxCompatStatus.Refused, reason, -1);

        /// <summary>Just enough of a little-endian ELF64 reader for section headers and string tables.</summary>
        internal sealed class Elf
        {
            readonly byte[] _bytes;

            public Elf(byte[] bytes)
            {
                _bytes = bytes;
                if (bytes.Length < 64 || bytes[0] != 0x7f || bytes[1] != (byte)'E' || bytes[2] != (byte)'L' || bytes[3] != (byte)'F')
                    throw new InvalidDataException("not an ELF file");
                if (bytes[4] != 2 || bytes[5] != 1) throw new InvalidDataException("not a little-endian 64-bit ELF file");
                long table = (long)U64(0x28);
                int entrySize = U16(0x3a), count = U16(0x3c);
                if (entrySize != 64 || table + (long)count * 64 > bytes.Length) throw new InvalidDataException("truncated ELF section header table");
                var sections = new List<Section>(count);
                for (int i = 0; i < count; i++)
                {
                    long h = table + 64L * i;
                    var section = new Section(U32(h + 4), (long)U64(h + 24), (long)U64(h + 32), U32(h + 40), U32(h + 44));
                    if (section.Type != 8 /* SHT_NOBITS */ && section.Offset + section.Size > bytes.Length)
                        throw new InvalidDataException("ELF section " + i + " runs past the end of the file");
                    sections.Add(section);
                }
                Sections = sections;
            }

            public IReadOnlyList<Section> Sections { get; private set; }

            public Section? FirstOfType(uint type)
            {
                foreach (Section section in Sections) if (section.Type == type) return section;
                return null;
            }

            public ushort U16(long at) { Check(at, 2); return (ushort)(_bytes[at] | _bytes[at + 1] << 8); }

            public uint U32(long at) { Check(at, 4); return (uint)(_bytes[at] | _bytes[at + 1] << 8 | _bytes[at + 2] << 16 | _bytes[at + 3] << 24); }

            public ulong U64(long at) => U32(at) | (ulong)U32(at + 4) << 32;

            public string String(Section table, uint offset)
            {
                long start = table.Offset + offset, end = start;
                while (end < table.Offset + table.Size && _bytes[end] != 0) end++;
                Check(start, (int)(end - start));
                return Encoding.ASCII.GetString(_bytes, (int)start, (int)(end - start));
            }

            void Check(long at, int length)
            {
                if (at < 0 || at + length > _bytes.Length) throw new InvalidDataException("ELF structure points past the end of the file (offset " + at + ")");
            }

            public sealed class Section
            {
                public Section(uint type, long offset, long size, uint link, uint info)
                {
                    Type = type; Offset = offset; Size = size; Link = link; Info = info;
                }

                public uint Type { get; private set; }
                public long Offset { get; private set; }
                public long Size { get; private set; }
                public uint Link { get; private set; }
                public uint Info { get; private set; }
            }
        }
    }

#if !VF_GLIBCXX_COMPAT_NO_TASK
    /// <summary>
    /// MSBuild task: when the system's libstdc++ lacks <see cref="GlibcxxCompat.Version"/> and
    /// <see cref="Source"/> is exactly the known case, writes a copy with that one requirement made
    /// weak to <see cref="Destination"/> and returns it in <see cref="Result"/>; otherwise returns an
    /// empty <see cref="Result"/> and the original is used. The package's own file is never written.
    /// </summary>
    public sealed class MakeLibTorchSharpLoadable : Microsoft.Build.Utilities.Task
    {
        /// <summary>TorchSharp's libLibTorchSharp.so as NuGet restored it.</summary>
        [Microsoft.Build.Framework.Required]
        public string Source { get; set; } = "";

        /// <summary>Where the patched copy goes (under obj/).</summary>
        [Microsoft.Build.Framework.Required]
        public string Destination { get; set; } = "";

        /// <summary>The file to copy to the output instead of <see cref="Source"/>, or empty for the original.</summary>
        [Microsoft.Build.Framework.Output]
        public string Result { get; set; } = "";

        /// <inheritdoc />
        public override bool Execute()
        {
            string? libstdcxx = GlibcxxCompat.FindSystemLibStdCxx();
            if (libstdcxx == null)
            {
                Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Low, "GlibcxxCompat: no " + GlibcxxCompat.LibStdCxx + " found; " + Source + " is used as it is.");
                return true;
            }

            try
            {
                HashSet<string> system = GlibcxxCompat.DefinedVersions(File.ReadAllBytes(libstdcxx));
                byte[] original = File.ReadAllBytes(Source);
                GlibcxxCompatAnalysis analysis = GlibcxxCompat.Analyse(original, system);
                if (analysis.Status == GlibcxxCompatStatus.Patchable)
                {
                    byte[] patched = GlibcxxCompat.Weaken(original, analysis);
                    Result = Destination;
                    if (File.Exists(Destination) && SameBytes(File.ReadAllBytes(Destination), patched)) return true;  // an earlier build wrote it

                    Directory.CreateDirectory(Path.GetDirectoryName(Destination)!);
                    string temporary = Destination + ".tmp";
                    File.WriteAllBytes(temporary, patched);
                    if (File.Exists(Destination)) File.Delete(Destination);
                    File.Move(temporary, Destination);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.High,
                        "GlibcxxCompat: " + libstdcxx + " lacks " + GlibcxxCompat.Version + "; the build uses a copy of libLibTorchSharp.so with that one unused requirement made weak: " + Destination);
                }
                else if (analysis.Status == GlibcxxCompatStatus.Refused)
                {
                    Warn(libstdcxx, analysis.Reason);
                }
                // NotRequired, AlreadyWeak: the original loads as it is.
            }
            catch (InvalidDataException e)
            {
                Warn(libstdcxx, e.Message);
            }
            return true;
        }

        static bool SameBytes(byte[] a, byte[] b)
        {
            if (a.Length != b.Length) return false;
            for (int i = 0; i < a.Length; i++) if (a[i] != b[i]) return false;
            return true;
        }

        void Warn(string libstdcxx, string reason)
        {
            Log.LogWarning(null, "VFGLIBCXX", null, Source, 0, 0, 0, 0,
                "{0} lacks {1}, which {2} requires, and the library is not the known case that can be fixed safely ({3}). TorchSharp will fail to load; use a system with GCC 13's libstdc++ or newer.",
                libstdcxx, GlibcxxCompat.Version, Source, reason);
        }
    }
#endif
}
