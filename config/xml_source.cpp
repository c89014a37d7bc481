#include "config/xml_source.hpp"
