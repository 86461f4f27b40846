// check_snippets: every code block of README.md that follows a line "<!-- snippet: PATH -->"
// must appear verbatim in PATH, so that the tour never drifts from the programs CI builds and
// runs. Usage: check_snippets <repository root>. Prints one line per snippet; exits 1 on any
// mismatch.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

namespace {

bool read_file(const std::string& path, std::string& text) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  text = buffer.str();
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: check_snippets <repository root>\n";
    return 2;
  }
  const std::string root = argv[1];
  std::ifstream readme(root + "/README.md");
  if (!readme) {
    std::cerr << "cannot read " << root << "/README.md\n";
    return 1;
  }
  const std::string marker = "<!-- snippet: ";
  std::string line, source, block;
  bool in_block = false;
  int checked = 0, failed = 0;
  while (std::getline(readme, line)) {
    if (in_block) {
      if (line.rfind("```", 0) == 0) {
        std::string text;
        ++checked;
        if (!read_file(root + "/" + source, text)) {
          std::cout << "FAIL " << source << ": cannot read it\n";
          ++failed;
        } else if (text.find(block) == std::string::npos) {
          std::cout << "FAIL " << source << " does not contain this README snippet:\n" << block;
          ++failed;
        } else {
          std::cout << "ok   " << source << '\n';
        }
        in_block = false;
        source.clear();
        block.clear();
      } else {
        block += line + '\n';
      }
    } else if (line.rfind(marker, 0) == 0) {
      const auto end = line.find(" -->");
      source = line.substr(marker.size(), end - marker.size());
    } else if (!source.empty() && line.rfind("```", 0) == 0) {
      in_block = true;
    }
  }
  if (checked == 0) {
    std::cout << "FAIL README.md has no snippets to check\n";
    return 1;
  }
  std::cout << checked - failed << " of " << checked << " README snippets match their examples\n";
  return failed == 0 ? 0 : 1;
}
