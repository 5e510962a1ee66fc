using System.Text;
using VectorFit.Serialization;

namespace VectorFit.Tests.Serialization;

/// <summary>
/// <see cref="AtomicFile"/>: a write replaces the target whole or not at all, leaves no temporary file, and the next write
/// removes the temporaries a killed write left behind, but not one a live writer still holds.
/// </summary>
public sealed class AtomicFileTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("vf-atomic-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void Write_ReplacesTheTargetAndLeavesNoTemporary()
    {
        string path = Path.Combine(_folder, "metrics.json");
        File.WriteAllText(path, "old content, longer than the new one");

        AtomicFile.Write(path, stream => stream.Write(Encoding.UTF8.GetBytes("new")));

        File.ReadAllText(path).Should().Be("new");
        Directory.GetFiles(_folder).Should().ContainSingle().Which.Should().Be(path);
    }

    [Fact]
    public void Write_ThatThrows_LeavesTheOldFileAndRemovesItsTemporary()
    {
        string path = Path.Combine(_folder, "report.csv");
        File.WriteAllText(path, "old");

        var act = () => AtomicFile.Write(path, stream =>
        {
            stream.Write(Encoding.UTF8.GetBytes("half of the new"));
            throw new IOException("disk full");
        });

        act.Should().Throw<IOException>().WithMessage("disk full");
        File.ReadAllText(path).Should().Be("old");
        Directory.GetFiles(_folder).Should().ContainSingle().Which.Should().Be(path);
    }

    [Fact]
    public void Write_IntoAMissingFolder_SaysToCreateIt()
    {
        string path = Path.Combine(_folder, "missing", "a.txt");

        var act = () => AtomicFile.Write(path, _ => { });

        act.Should().Throw<DirectoryNotFoundException>().WithMessage($"*the folder '{Path.Combine(_folder, "missing")}' does not exist*Directory.CreateDirectory*");
    }

    [Fact]
    public void Write_RemovesTheTemporariesOfKilledWrites_ButNotALiveOneNorOtherFiles()
    {
        string path = Path.Combine(_folder, "a.svg");
        string stale = Path.Combine(_folder, $".a.svg.{Guid.NewGuid():N}.tmp");
        string live = Path.Combine(_folder, $".a.svg.{Guid.NewGuid():N}.tmp");
        string other = Path.Combine(_folder, ".a.svg.not-a-guid.tmp");
        string otherTarget = Path.Combine(_folder, $".b.svg.{Guid.NewGuid():N}.tmp");
        foreach (string file in new[] { stale, live, other, otherTarget })
        {
            File.WriteAllText(file, "left behind");
        }

        using (new FileStream(live, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            AtomicFile.Write(path, stream => stream.Write(Encoding.UTF8.GetBytes("<svg/>")));
        }

        File.ReadAllText(path).Should().Be("<svg/>");
        File.Exists(stale).Should().BeFalse("a killed write's temporary of the same target is removed");
        File.Exists(live).Should().BeTrue("a temporary a live writer holds is left alone");
        File.Exists(other).Should().BeTrue("a file whose middle is not a GUID is not ours");
        File.Exists(otherTarget).Should().BeTrue("another target's temporaries are left alone");
    }
}
